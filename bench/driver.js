'use strict';
// driver.js — runs `make bench`: for every model and thread count, anvil (bench_engine --serve,
// a child process holding a refittable and an immutable engine) and ONNX Runtime (a session in
// this process) take turns in rounds, so that a noisy machine slows both alike; then it prints
// the latency table. The interpreter has no thread setting: it is timed once per model.
// With --refit, each model then gets a refit round (bench_refit --serve): compile, ORT session
// creation, refits from safetensors and a memcpy of the same bytes in turns, printed as a
// second table.
//   node driver.js --engine BUILD/bench/bench_engine [--refit BUILD/bench/bench_refit] MODEL.onnx...
// Settings (environment): BENCH_THREADS ("1 2"), BENCH_ROUNDS (6), BENCH_RUNS (5 per round),
// BENCH_WARMUP (5), BENCH_INTERP_RUNS (20), BENCH_PAUSE_MS (20: lets the other side's worker
// threads stop spinning before a turn starts), BENCH_SPIN ("default": each runtime as shipped;
// "off": idle worker threads sleep on both sides, OMP_WAIT_POLICY=passive for anvil's OpenMP
// and session.intra_op.allow_spinning=0 for ORT, which suits a loaded machine).
// Refit table: BENCH_REFIT (1; 0 skips it), BENCH_REFIT_THREADS (1), BENCH_REFIT_ROUNDS (9:
// one compile and one ORT session creation each), BENCH_REFIT_RUNS (4 refits per row and
// round), BENCH_COPY_RUNS (10 memcpys per round).

const { spawn } = require('child_process');
const fs = require('fs');
const readline = require('readline');
const ortBench = require('./ort_bench.js');

const env = (name, fallback) => (process.env[name] !== undefined ? process.env[name] : fallback);
const THREADS = env('BENCH_THREADS', '1 2').split(/\s+/).filter(Boolean).map(Number);
const ROUNDS = Number(env('BENCH_ROUNDS', 6));
const RUNS = Number(env('BENCH_RUNS', 5));
const WARMUP = Number(env('BENCH_WARMUP', 5));
const INTERP_RUNS = Number(env('BENCH_INTERP_RUNS', 20));
const PAUSE_MS = Number(env('BENCH_PAUSE_MS', 20));
const SPIN = env('BENCH_SPIN', 'default');
const REFIT = env('BENCH_REFIT', '1') !== '0';
const REFIT_THREADS = Number(env('BENCH_REFIT_THREADS', 1));
const REFIT_ROUNDS = Number(env('BENCH_REFIT_ROUNDS', 9));
const REFIT_RUNS = Number(env('BENCH_REFIT_RUNS', 4));
const COPY_RUNS = Number(env('BENCH_COPY_RUNS', 10));
if (SPIN !== 'default' && SPIN !== 'off') throw new Error(`BENCH_SPIN=${SPIN}: expected default or off`);
if (SPIN === 'off') process.env.OMP_WAIT_POLICY = 'passive'; // inherited by bench_engine

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A bench_engine or bench_refit --serve child: send a command, await its one-line JSON answer.
class AnvilChild {
  constructor(exe, model, threads) {
    this.name = require('path').basename(exe);
    this.proc = spawn(exe, [model, '--serve', '--threads', String(threads)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.lines = readline.createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
    this.proc.stdin.on('error', () => {}); // a child that died is reported by next()
  }

  async next() {
    const line = await Promise.race([this.lines.next(), this.exited.then((code) => ({ code }))]);
    if (line.code !== undefined || line.done)
      throw new Error(`${this.name} exited (code ${await this.exited}) before answering`);
    return JSON.parse(line.value);
  }

  async ask(command) {
    this.proc.stdin.write(`${command}\n`);
    const answer = await this.next();
    if (answer.error) throw new Error(`${this.name} ${command}: ${answer.error}`);
    return answer;
  }

  async times(what, n) {
    const answer = await this.ask(`${what} ${n}`);
    if (!answer.times_ms) throw new Error(`${this.name}: ${JSON.stringify(answer)}`);
    return answer.times_ms;
  }

  async close() {
    if (this.proc.exitCode === null) this.proc.stdin.end('quit\n');
    await this.exited;
  }
}

// The turns of a round, a different order each round, so that across 6 rounds every turn
// follows each other one equally often (a rotation of one order keeps each turn's predecessor
// fixed, and the turn that always follows ORT pays for its spinning worker threads). "pair"
// times the refittable and the immutable engine run by run: their ratio is the refit parity.
// Timed in separate turns, that ratio swung from 0.6 to 1.27 at 2 threads on 2 cores with
// spinning runtimes; run by run both engines see the same machine.
const ORDERS = [
  ['anvil', 'ort', 'pair'], ['pair', 'ort', 'anvil'], ['ort', 'anvil', 'pair'],
  ['ort', 'pair', 'anvil'], ['anvil', 'pair', 'ort'], ['pair', 'anvil', 'ort'],
];

// One model at one thread count: anvil, ORT, and the two engines run by run, in turns.
async function measure(engine, model, threads, withInterp) {
  const child = new AnvilChild(engine, model, threads);
  try {
    const setup = await child.next();
    const { session, ms: sessionMs } = await ortBench.createSession(model, threads, SPIN !== 'off');
    const feeds = ortBench.makeFeeds(session, model, setup.inputs);
    // pairAnvil / immutable: the two engines run by run in the "pair" turns (refit parity)
    const times = { anvil: [], ort: [], pairAnvil: [], immutable: [], interp: [] };
    const turn = {
      anvil: async (n) => times.anvil.push(...(await child.times('anvil', n))),
      ort: async (n) => times.ort.push(...(await ortBench.timeRuns(session, feeds, n))),
      pair: async (n) => {
        const answer = await child.ask(`pair ${n}`);
        times.pairAnvil.push(...answer.times_ms);
        times.immutable.push(...answer.immutable_ms);
      },
    };
    for (const side of ORDERS[0]) await turn[side](WARMUP);
    for (const k of Object.keys(times)) times[k] = []; // warm-up runs are not counted
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of ORDERS[r % ORDERS.length]) {
        await sleep(PAUSE_MS);
        await turn[side](RUNS);
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

// A markdown table with padded columns: the first `left` columns left-aligned, the others right.
function printTable(head, body, left = 1) {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i >= left ? c.padStart(widths[i])
    : c.padEnd(widths[i]))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i >= left ? `${'-'.repeat(w + 1)}:`
    : `:${'-'.repeat(w + 1)}`)).join('|')}|`);
  for (const b of body) console.log(line(b));
}

function printLatencyTable(rows) {
  printTable(['model', 'threads', 'anvil ms', 'ORT ms', 'interp ms', 'anvil/ORT'],
    rows.map((r) => [r.model, String(r.threads), fmt(r.anvil), fmt(r.ort), fmt(r.interp, 1),
      fmt(r.anvil / r.ort)]));
}

// One model's refit round: bench_refit (compile, refits per row, memcpy) and ORT session
// creation take turns; then bench_refit checks refitted outputs against the reference files.
async function measureRefit(exe, model) {
  const child = new AnvilChild(exe, model, REFIT_THREADS);
  try {
    const setup = await child.next();
    const rows = setup.rows.map((r, i) => ({ ...r, index: i, times: [], file: [], answer: null }));
    const live = rows.filter((r) => r.ok);
    const times = { compile: [], ort: [], memcpy: [] };
    const ortSession = async () => {
      const { session, ms } = await ortBench.createSession(model, REFIT_THREADS, SPIN !== 'off');
      await session.release();
      return [ms];
    };
    await ortSession(); // warm-up: loads the runtime's kernels and the file into the page cache
    const turns = [
      ['compile', () => child.times('compile', 1)],
      ['ort', ortSession],
      ...live.map((r) => [r, async () => {
        r.answer = await child.ask(`refit ${r.index} ${REFIT_RUNS}`);
        r.file.push(...r.answer.file_ms);
        return r.answer.times_ms;
      }]),
      ['memcpy', () => child.times('memcpy', COPY_RUNS)],
    ];
    for (let round = 0; round < REFIT_ROUNDS; round++) {
      for (let i = 0; i < turns.length; i++) {
        const [who, turn] = turns[(round + i) % turns.length]; // rotate who goes first
        await sleep(PAUSE_MS);
        const t = await turn();
        if (typeof who === 'string') times[who].push(...t);
        else who.times.push(...t);
      }
    }
    const { checks } = await child.ask('check');
    return { setup, rows, times, checks };
  } finally {
    await child.close();
  }
}

const TARGET_COPY = 3, TARGET_ORT = 0.25;

// Table rows and notes of one model's refit round; `parity` is the refittable/immutable latency
// ratio the latency rounds measured (NaN if not measured).
function refitReport(name, m, parity, table, notes) {
  const med = ortBench.median;
  const compile = med(m.times.compile), ort = med(m.times.ort), copy = med(m.times.memcpy);
  let failed = 0;
  for (const r of m.rows) {
    const refit = r.ok ? med(r.times) : NaN;
    table.push([name, r.ok ? r.name : `${r.name} (n/a)`, fmt(compile, 1), r.ok ? fmt(refit) : 'n/a',
      fmt(copy, 3), fmt(ort, 1), fmt(refit / copy, 1), fmt(refit / ort, 3),
      r.ok ? fmt(r.answer.bytes_packed / 1048576, 1) : '-', fmt(parity, 3)]);
  }
  const lines = [`${name}: ${mib(m.setup.bytes_total)} of slots (${m.setup.bytes_total_from}); ` +
    `refit median of ${REFIT_ROUNDS * REFIT_RUNS} per row, compile and ORT session creation ` +
    `median of ${REFIT_ROUNDS}, memcpy median of ${REFIT_ROUNDS * COPY_RUNS}; the process's ` +
    `first compile (oneDNN kernels not yet generated) took ${fmt(m.setup.compile_s * 1e3, 1)} ms`];
  for (const r of m.rows) {
    if (!r.ok) {
      lines.push(`  ${r.name}: n/a (${r.reason})`);
      continue;
    }
    const a = r.answer, verdict = [];
    if (med(r.times) / copy > TARGET_COPY) verdict.push(`refit/memcpy above ${TARGET_COPY}`);
    if (med(r.times) / ort > TARGET_ORT) verdict.push(`refit/ORT above ${TARGET_ORT}`);
    lines.push(`  ${r.name} (v1 <-> ${r.second}): ${a.slots_rebuilt} slots rebuilt, ` +
      `${mib(a.bytes_packed)} packed per refit; opening and closing the file took ` +
      `${fmt(med(r.file))} ms of the refit (median); at least ${a.sources_changed_min} of ` +
      `${a.sources} sources changed per refit, ${a.sources_mapped} through the name map` +
      `${verdict.length ? `; ${verdict.join(', ')}` : ''}`);
    if (a.sources_changed_min === 0) {
      failed++;
      lines.push(`  FAIL: ${r.name}: a timed refit changed no source weight`);
    }
  }
  for (const c of m.checks) {
    const ok = c.ok && c.rel_err !== null;
    if (!ok) failed++;
    lines.push(`  ${ok ? 'check' : 'FAIL: check'} ${c.row} refitted to ${c.checkpoint}: max rel ` +
      `error ${c.rel_err === null ? 'n/a (shape, dtype or NaN)' : c.rel_err.toExponential(1)} ` +
      `against ${c.against}${ok ? '' : ' (ABOVE 1e-4)'}`);
  }
  notes.push(lines.join('\n'));
  return failed;
}

function parityThreadsLabel(threads) {
  return THREADS.includes(threads) ? `${threads} thread(s)` : `${THREADS[0]} thread(s)`;
}

function printRefitTable(table) {
  printTable(['model', 'checkpoint', 'compile ms', 'refit ms', 'memcpy ms', 'ORT session ms',
    `refit/memcpy (<=${TARGET_COPY})`, `refit/ORT (<=${TARGET_ORT})`, 'MiB packed/refit',
    'refittable/immutable'], table, 2);
}

function modelName(file) {
  const parts = file.split('/');
  return parts.length > 1 ? parts[parts.length - 2] : file;
}

async function main(argv) {
  const usage = 'usage: node driver.js --engine BENCH_ENGINE [--refit BENCH_REFIT] MODEL.onnx...';
  const opts = {}, models = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === '--engine' || argv[k] === '--refit') {
      if (k + 1 >= argv.length) throw new Error(usage);
      opts[argv[k].slice(2)] = argv[++k];
    } else if (argv[k].startsWith('--')) {
      throw new Error(usage);
    } else {
      models.push(argv[k]);
    }
  }
  const engine = opts.engine, refitExe = REFIT ? opts.refit : undefined;
  if (!engine) throw new Error(usage);
  if (!models.length) throw new Error('no models given');
  console.log(`CPU: ${cpuName()} (${require('os').cpus().length} logical cores)`);
  console.log(`ONNX Runtime ${require('onnxruntime-node/package.json').version} (node ${process.version}); ` +
    `batch 1; median of ${ROUNDS} rounds x ${RUNS} runs after ${WARMUP} warm-up runs, ` +
    `anvil / ORT / refittable and immutable engine run by run, in turns; interpreter: median of ${INTERP_RUNS} runs`);
  console.log(`BENCH_SPIN=${SPIN}: OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY || '(unset)'} for anvil, ` +
    `ORT intra-op spinning ${SPIN === 'off' ? 'off' : 'on (default)'}` +
    `, load average before: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
  const rows = [], notes = [], refitTable = [], refitNotes = [];
  let failed = 0;
  for (const model of models) {
    let interp = NaN;
    const parity = {}; // refittable/immutable latency ratio per thread count
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
      // the median of the pairs' ratios: on a noisy 2-core machine run times are bimodal, and
      // a ratio of two medians flips with the count of slow runs on each side
      parity[threads] = ortBench.median(m.times.pairAnvil.map((t, i) => t / m.times.immutable[i]));
      const err = s.rel_err === null ? 'shape or dtype MISMATCH'
        : `${s.rel_err.toExponential(1)}${s.rel_err > 1e-4 ? ' (ABOVE 1e-4)' : ''}`;
      notes.push(`${modelName(model)}, ${threads} thread(s):\n` +
        `  compile       ${fmt(s.compile_s, 3)} s (immutable engine ${fmt(s.compile_immutable_s, 3)} s); ` +
        `ORT session creation ${fmt(m.sessionMs / 1000, 3)} s\n` +
        `  memory        arena ${mib(s.arena_bytes)} vs ${mib(s.activation_bytes)} of activations ` +
        `without reuse (${fmt(100 * s.arena_bytes / s.activation_bytes, 0)}%); ${s.layers} layers; ` +
        `weights ${mib(s.weight_bytes)} in ${s.slots} slots\n` +
        `  refit parity  refittable ${fmt(med('pairAnvil'))} ms vs immutable ` +
        `${fmt(med('immutable'))} ms run by run: median ratio ${fmt(parity[threads], 3)}\n` +
        `  output        max rel error ${err} vs the ${s.checked_against}`);
    }
    if (!refitExe) continue;
    process.stderr.write(`bench: ${modelName(model)}, refit (${REFIT_THREADS} thread(s))...\n`);
    const ratio = parity[REFIT_THREADS] !== undefined ? parity[REFIT_THREADS]
      : Object.values(parity).concat(NaN)[0];
    try {
      failed += refitReport(modelName(model), await measureRefit(refitExe, model), ratio,
        refitTable, refitNotes);
    } catch (e) {
      failed++;
      refitTable.push([modelName(model), 'FAILED', ...Array(8).fill('-')]);
      refitNotes.push(`${modelName(model)}: refit FAILED: ${e.message}`);
    }
  }
  printLatencyTable(rows);
  console.log('');
  for (const n of notes) console.log(n);
  if (refitExe) {
    console.log(`\nRefit (CPU, ${REFIT_THREADS} thread(s); refittable/immutable: the latency ` +
      `ratio above at ${parityThreadsLabel(REFIT_THREADS)}); targets refit/memcpy <= ` +
      `${TARGET_COPY}, refit/ORT session <= ${TARGET_ORT}:\n`);
    printRefitTable(refitTable);
    console.log('');
    for (const n of refitNotes) console.log(n);
  }
  if (failed) throw new Error(`${failed} measurement(s) failed (see above)`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
