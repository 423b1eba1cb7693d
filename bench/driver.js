'use strict';
// driver.js — runs `make bench`: for every model and thread count, anvil (bench_engine --serve,
// a child process holding a refittable and an immutable engine) and ONNX Runtime (a session in
// this process) take turns in rounds, so that a noisy machine slows both alike; then it prints
// the table. The interpreter has no thread setting: it is timed once per model.
//   node driver.js --engine BUILD/bench/bench_engine MODEL.onnx...
// Settings (environment): BENCH_THREADS ("1 2"), BENCH_ROUNDS (5), BENCH_RUNS (5 per round),
// BENCH_WARMUP (5), BENCH_INTERP_RUNS (20), BENCH_PAUSE_MS (20: lets the other side's worker
// threads stop spinning before a turn starts), BENCH_SPIN ("default": each runtime as shipped;
// "off": idle worker threads sleep on both sides, OMP_WAIT_POLICY=passive for anvil's OpenMP
// and session.intra_op.allow_spinning=0 for ORT, which suits a loaded machine).

const { spawn } = require('child_process');
const fs = require('fs');
const readline = require('readline');
const ortBench = require('./ort_bench.js');

const env = (name, fallback) => (process.env[name] !== undefined ? process.env[name] : fallback);
const THREADS = env('BENCH_THREADS', '1 2').split(/\s+/).filter(Boolean).map(Number);
const ROUNDS = Number(env('BENCH_ROUNDS', 5));
const RUNS = Number(env('BENCH_RUNS', 5));
const WARMUP = Number(env('BENCH_WARMUP', 5));
const INTERP_RUNS = Number(env('BENCH_INTERP_RUNS', 20));
const PAUSE_MS = Number(env('BENCH_PAUSE_MS', 20));
const SPIN = env('BENCH_SPIN', 'default');
if (SPIN !== 'default' && SPIN !== 'off') throw new Error(`BENCH_SPIN=${SPIN}: expected default or off`);
if (SPIN === 'off') process.env.OMP_WAIT_POLICY = 'passive'; // inherited by bench_engine

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A bench_engine --serve child: send a command, await its one-line JSON answer.
class AnvilChild {
  constructor(engine, model, threads) {
    this.proc = spawn(engine, [model, '--serve', '--threads', String(threads)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.lines = readline.createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
    this.proc.stdin.on('error', () => {}); // a child that died is reported by next()
  }

  async next() {
    const line = await Promise.race([this.lines.next(), this.exited.then((code) => ({ code }))]);
    if (line.code !== undefined || line.done)
      throw new Error(`bench_engine exited (code ${await this.exited}) before answering`);
    return JSON.parse(line.value);
  }

  async times(what, n) {
    this.proc.stdin.write(`${what} ${n}\n`);
    const answer = await this.next();
    if (!answer.times_ms) throw new Error(`bench_engine: ${JSON.stringify(answer)}`);
    return answer.times_ms;
  }

  async close() {
    if (this.proc.exitCode === null) this.proc.stdin.end('quit\n');
    await this.exited;
  }
}

// One model at one thread count: anvil, ORT and the immutable engine in turns.
async function measure(engine, model, threads, withInterp) {
  const child = new AnvilChild(engine, model, threads);
  try {
    const setup = await child.next();
    const { session, ms: sessionMs } = await ortBench.createSession(model, threads, SPIN !== 'off');
    const feeds = ortBench.makeFeeds(session, model, setup.inputs);
    const times = { anvil: [], ort: [], immutable: [], interp: [] };
    const turn = {
      anvil: (n) => child.times('anvil', n),
      immutable: (n) => child.times('immutable', n),
      ort: (n) => ortBench.timeRuns(session, feeds, n),
    };
    const order = ['anvil', 'ort', 'immutable'];
    for (const side of order) await turn[side](WARMUP);
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < order.length; i++) {
        const side = order[(r + i) % order.length]; // rotate who goes first
        await sleep(PAUSE_MS);
        times[side].push(...(await turn[side](RUNS)));
      }
    }
    if (withInterp) {
      await sleep(PAUSE_MS);
      times.interp = await child.times('interp', INTERP_RUNS);
    }
    await session.release();
    return { setup, sessionMs, times };
  } finally {
    await child.close();
  }
}

function cpuName() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1] : 'unknown';
  } catch (e) {
    return 'unknown';
  }
}

const fmt = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

function printTable(rows) {
  const head = ['model', 'threads', 'anvil ms', 'ORT ms', 'interp ms', 'anvil/ORT'];
  const body = rows.map((r) => [r.model, String(r.threads), fmt(r.anvil), fmt(r.ort),
    fmt(r.interp, 1), fmt(r.anvil / r.ort)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i])))
    .join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

function modelName(file) {
  const parts = file.split('/');
  return parts.length > 1 ? parts[parts.length - 2] : file;
}

async function main(argv) {
  const i = argv.indexOf('--engine');
  if (i < 0 || i + 1 >= argv.length) throw new Error('usage: node driver.js --engine BENCH_ENGINE MODEL.onnx...');
  const engine = argv[i + 1];
  const models = argv.filter((_, k) => k !== i && k !== i + 1);
  if (!models.length) throw new Error('no models given');
  console.log(`CPU: ${cpuName()} (${require('os').cpus().length} logical cores)`);
  console.log(`ONNX Runtime ${require('onnxruntime-node/package.json').version} (node ${process.version}); ` +
    `batch 1; median of ${ROUNDS} rounds x ${RUNS} runs after ${WARMUP} warm-up runs, ` +
    `anvil / ORT / immutable engine in turns; interpreter: median of ${INTERP_RUNS} runs`);
  console.log(`BENCH_SPIN=${SPIN}: OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY || '(unset)'} for anvil, ` +
    `ORT intra-op spinning ${SPIN === 'off' ? 'off' : 'on (default)'}` +
    `, load average before: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
  const rows = [], notes = [];
  let failed = 0;
  for (const model of models) {
    let interp = NaN;
    for (const threads of THREADS) {
      process.stderr.write(`bench: ${modelName(model)}, ${threads} thread(s)...\n`);
      let m;
      try {
        m = await measure(engine, model, threads, Number.isNaN(interp) && INTERP_RUNS > 0);
      } catch (e) {
        failed++;
        rows.push({ model: modelName(model), threads, anvil: NaN, ort: NaN, interp });
        notes.push(`${modelName(model)}, ${threads} thread(s): FAILED: ${e.message}`);
        continue;
      }
      if (m.times.interp.length) interp = ortBench.median(m.times.interp);
      const s = m.setup, med = (k) => ortBench.median(m.times[k]);
      rows.push({ model: modelName(model), threads, anvil: med('anvil'), ort: med('ort'), interp });
      const err = s.rel_err === null ? 'shape or dtype MISMATCH'
        : `${s.rel_err.toExponential(1)}${s.rel_err > 1e-4 ? ' (ABOVE 1e-4)' : ''}`;
      notes.push(`${modelName(model)}, ${threads} thread(s):\n` +
        `  compile       ${fmt(s.compile_s, 3)} s (immutable engine ${fmt(s.compile_immutable_s, 3)} s); ` +
        `ORT session creation ${fmt(m.sessionMs / 1000, 3)} s\n` +
        `  memory        arena ${mib(s.arena_bytes)} vs ${mib(s.activation_bytes)} of activations ` +
        `without reuse (${fmt(100 * s.arena_bytes / s.activation_bytes, 0)}%); ${s.layers} layers; ` +
        `weights ${mib(s.weight_bytes)} in ${s.slots} slots\n` +
        `  refit parity  refittable ${fmt(med('anvil'))} ms vs immutable ${fmt(med('immutable'))} ms: ` +
        `ratio ${fmt(med('anvil') / med('immutable'), 3)}\n` +
        `  output        max rel error ${err} vs the ${s.checked_against}`);
    }
  }
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(n);
  if (failed) throw new Error(`${failed} measurement(s) failed (see above)`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
