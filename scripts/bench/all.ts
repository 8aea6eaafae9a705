// `npm run bench` (or `npm run bench:all`): every benchmark of the project, one after another as child processes (each
// starts its own server and database), with short durations where a benchmark lets us set them;
// then ONE table of every figure next to its target, and the machine it ran on.
//
//   npm run bench:all [-- --only fhir,hl7] [--skip app] [--full] [--with-search-1m] [--markdown FILE]
//
// --full runs each benchmark with its own defaults (minutes each); --with-search-1m adds the
// 1,000,000-resource search benchmark (long: it loads the data first); --markdown writes the table
// (with the machine) to FILE as well. Exit code 1 if a figure fails or a benchmark crashes.
// Environment variables given to this command pass through, and override the short settings.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { type Figure, figuresOf } from './lib/collect.ts';
import { formatTable, log } from './lib/table.ts';

interface Bench {
  name: string;
  script: string;
  /** Short settings (seconds, counts) for a quick run. */
  short: Record<string, string>;
  /** Without --with-search-1m, skipped. */
  long?: boolean;
}

const BENCHES: Bench[] = [
  { name: 'fhir', script: 'fhir.ts', short: { BENCH_DURATION: '3', BENCH_WARMUP: '1', BENCH_QUIET_WAIT: '10' } },
  {
    name: 'auth',
    script: 'auth-cost.ts',
    short: { BENCH_AUTH_SLICE: '2', BENCH_WARMUP: '1', BENCH_QUIET_WAIT: '10', BENCH_AUTH_ROUNDS: '2' },
  },
  { name: 'idle', script: 'idle-warmup.ts', short: { BENCH_IDLE_CYCLES: '3', BENCH_IDLE_BURST: '4' } },
  { name: 'subscriptions', script: 'subscriptions.ts', short: { BENCH_DURATION: '3', BENCH_BACKLOG: '1000' } },
  { name: 'device-page', script: 'device-page.ts', short: { BENCH_DURATION: '10' } },
  { name: 'hl7', script: 'hl7.ts', short: { BENCH_DURATION: '5', BENCH_MIXED_DURATION: '5' } },
  { name: 'booking', script: 'booking.ts', short: {} },
  { name: 'app', script: 'app.ts', short: {} },
  { name: 'triage', script: 'triage.ts', short: { BENCH_CASES: '2000', BENCH_RUNS: '1' } },
  { name: 'communication', script: 'communication.ts', short: { BENCH_DURATION: '5' } },
  { name: 'mpi', script: 'mpi.ts', short: { BENCH_RECORDS: '2000', BENCH_RETURNING: '500', BENCH_NEW: '300' } },
  { name: 'audit', script: 'audit-index.ts', short: { BENCH_AUDIT_EVENTS: '2000' } },
  { name: 'scale', script: 'scale.ts', short: { BENCH_SCALE_SECONDS: '4' } },
  { name: 'search-1m', script: 'search-1m.ts', short: { BENCH_DURATION: '5', BENCH_SINGLE_SECONDS: '3' }, long: true },
];

const TIMEOUT_MS = Number(process.env.BENCH_ALL_TIMEOUT_S ?? 1800) * 1000;

function listArg(args: string[], name: string): Set<string> | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? new Set((args[i + 1] ?? '').split(',').filter(Boolean)) : undefined;
}

/** Runs one benchmark; resolves with its stdout (its stderr progress goes through) and exit code. */
function run(bench: Bench, full: boolean): Promise<{ output: string; code: number | null; ms: number }> {
  const started = performance.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, bench.script)], {
      env: { ...(full ? {} : bench.short), ...process.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      log(`${bench.name}: no result after ${TIMEOUT_MS / 1000} s, stopping it`);
      child.kill('SIGTERM');
    }, TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ output, code, ms: performance.now() - started });
    });
  });
}

export function machine(): string {
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const gb = (totalmem() / 1024 ** 3).toFixed(1);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${availableParallelism()} cores (${cpu}), ${gb} GB RAM, Node ${process.version}, ${process.platform}/${process.arch}, load average ${load}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = listArg(args, '--only');
  const skip = listArg(args, '--skip') ?? new Set<string>();
  const full = args.includes('--full');
  const withLong = args.includes('--with-search-1m');
  const mdIndex = args.indexOf('--markdown');
  const markdownFile = mdIndex >= 0 ? args[mdIndex + 1] : undefined;
  const unknown = [...(only ?? [])].filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`);

  const selected = BENCHES.filter((b) => (only ? only.has(b.name) : !b.long || withLong) && !skip.has(b.name));
  const loadBefore = machine();
  const figures: Figure[] = [];
  const durations: string[] = [];
  for (const bench of selected) {
    log(
      `bench:all — ${bench.name} (${bench.script}${
        full
          ? ''
          : `, ${
              Object.entries(bench.short)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ') || 'defaults'
            }`
      })`,
    );
    const { output, code, ms } = await run(bench, full);
    durations.push(`${bench.name} ${(ms / 1000).toFixed(0)} s`);
    const found = figuresOf(bench.name, output);
    figures.push(...found);
    if (code !== 0 || found.length === 0) {
      figures.push({
        bench: bench.name,
        figure: 'benchmark run',
        target: 'exit 0',
        measured: `exit ${code ?? 'killed'}${found.length === 0 ? ', no table' : ''}`,
        result: code === 0 ? 'info' : 'ERROR',
      });
    }
  }

  const table = formatTable(
    ['Benchmark', 'Figure', 'Target', 'Measured', 'Result'],
    figures.map((f) => [f.bench, f.figure, f.target, f.measured, f.result]),
  );
  const counts = ['PASS', 'FAIL', 'ERROR', 'info'].map((r) => `${figures.filter((f) => f.result === r).length} ${r}`).join(', ');
  const text = [
    `### All benchmarks (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${full ? '' : ', short runs'})`,
    '',
    `Machine: ${loadBefore} (at the start).`,
    '',
    table,
    '',
    `${counts}. Durations: ${durations.join(', ')}.`,
    '',
  ].join('\n');
  process.stdout.write(`\n${text}`);
  if (markdownFile) writeFileSync(markdownFile, text);
  if (figures.some((f) => f.result === 'FAIL' || f.result === 'ERROR')) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench:all failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
