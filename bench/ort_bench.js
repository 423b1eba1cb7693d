'use strict';
// ort_bench.js — the ONNX Runtime side of `make bench`: a CPU session with all graph
// optimizations, `threads` intra-op threads and sequential execution, batch 1. Used as a module
// by driver.js (which interleaves it with anvil), or alone:
//   node ort_bench.js MODEL.onnx [--threads N] [--runs N] [--warmup N]
// prints {"model", "threads", "session_ms", "runs", "min_ms", "median_ms", "max_ms"} as JSON.
// Inputs: input_<k>.npy next to the model, else generated like bench_engine.c does.

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const NPY_TYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};

// Reads a C-order little-endian .npy file into an ort.Tensor.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not an .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: unsupported .npy header ${header.trim()}`);
  const type = NPY_TYPES[descr[1]];
  if (!type) throw new Error(`${file}: unsupported dtype ${descr[1]}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const bytes = buf.subarray(start);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const data = new type[1](copy.buffer, 0, bytes.length / type[1].BYTES_PER_ELEMENT);
  return new ort.Tensor(type[0], type[0] === 'bool' ? Uint8Array.from(data) : data, dims);
}

// The data bench_engine.c generates when a model folder has no input file.
function generated(dtype, shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'f32') {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = ((i * 7919) % 2001 - 1000) / 1000;
    return new ort.Tensor('float32', data, shape);
  }
  if (dtype === 'i64') return new ort.Tensor('int64', new BigInt64Array(n), shape);
  if (dtype === 'i32') return new ort.Tensor('int32', new Int32Array(n), shape);
  throw new Error(`no generated data for dtype ${dtype}`);
}

// Feeds from bench_engine's input list ({name, dtype, shape, file}) or the model's folder.
function makeFeeds(session, modelPath, inputs) {
  const feeds = {};
  session.inputNames.forEach((name, k) => {
    const spec = inputs && inputs.find((i) => i.name === name);
    const file = spec ? spec.file : path.join(path.dirname(modelPath), `input_${k}.npy`);
    if (file && fs.existsSync(file)) feeds[name] = readNpy(file);
    else if (spec) feeds[name] = generated(spec.dtype, spec.shape);
    else throw new Error(`${modelPath}: no ${file} for input '${name}'`);
  });
  return feeds;
}

// spin false: idle intra-op threads sleep at once instead of spinning (ORT's default spins),
// the counterpart of OMP_WAIT_POLICY=passive for anvil's OpenMP threads.
async function createSession(modelPath, threads, spin = true) {
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: spin ? {} : { session: { intra_op: { allow_spinning: '0' } } },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { session, ms };
}

// Runs the session n times; returns each run's time in ms.
async function timeRuns(session, feeds, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

async function main(argv) {
  const opts = { threads: 1, runs: 20, warmup: 5 };
  let model = null;
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (argv[i].startsWith('--') && key in opts && i + 1 < argv.length) opts[key] = Number(argv[++i]);
    else if (!argv[i].startsWith('-') && !model) model = argv[i];
    else throw new Error(`usage: node ort_bench.js MODEL.onnx [--threads N] [--runs N] [--warmup N]`);
  }
  if (!model) throw new Error('usage: node ort_bench.js MODEL.onnx [--threads N] [--runs N] [--warmup N]');
  const { session, ms } = await createSession(model, opts.threads);
  const feeds = makeFeeds(session, model, null);
  await timeRuns(session, feeds, opts.warmup);
  const times = await timeRuns(session, feeds, opts.runs);
  console.log(JSON.stringify({
    model, threads: opts.threads, session_ms: ms, runs: times.length,
    min_ms: Math.min(...times), median_ms: median(times), max_ms: Math.max(...times),
  }));
}

module.exports = { createSession, makeFeeds, timeRuns, median, readNpy };

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`ort_bench: ${e.message}`);
    process.exit(1);
  });
}
