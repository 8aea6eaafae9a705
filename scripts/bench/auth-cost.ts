// What authentication, access policies and the audit trail cost (issue 3's benchmark): the FHIR
// benchmark's create, read and search phases against
//   - the baseline server (scripts/bench/lib/baseline-server.ts: token verified once then trusted,
//     no AccessPolicy, no audit), and
//   - the real server, as a client bound to the ED physician's AccessPolicy (every request verified,
//     authorised in SQL and audited),
// alternating, BENCH_AUTH_ROUNDS times each; each rate is the median of its rounds. Target: every
// secured rate within 15 % of its baseline.
//
//   node scripts/bench/auth-cost.ts        (npm run bench:auth)
//
// Environment: BENCH_AUTH_ROUNDS=2, BENCH_ROLE=ed-physician, and the FHIR benchmark's own variables
// (BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_QUIET_WAIT…), passed through.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { runMain } from './lib/cleanup.ts';
import { parseTables } from './lib/collect.ts';
import { type Check, fmtRate, log, printChecks } from './lib/table.ts';

const ROUNDS = Math.max(1, Number(process.env.BENCH_AUTH_ROUNDS ?? 2) || 2);
const ROLE = process.env.BENCH_ROLE || 'ed-physician';
const MAX_COST = 0.15;

type Mode = 'baseline' | 'secured';

interface Run {
  /** Requests/s per figure (e.g. "create Patient"). */
  rates: Map<string, number>;
  /** Server + PostgreSQL CPU milliseconds per request, per figure. */
  cpuMs: Map<string, number>;
}

/** Runs the FHIR benchmark's create/read/search phases once: each figure's rate and CPU per request. */
function runFhirBench(mode: Mode): Promise<Run> {
  const env = {
    ...process.env,
    BENCH_PHASES: 'create,read,search',
    ...(mode === 'baseline' ? { BENCH_BASELINE: '1', BENCH_ROLE: '' } : { BENCH_BASELINE: '', BENCH_ROLE: ROLE }),
  };
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, 'fhir.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', fail);
    child.on('exit', () => {
      // fhir.ts exits 1 when a target is missed, which is not a failure here: read its table.
      const rates = new Map<string, number>();
      const cpuMs = new Map<string, number>();
      for (const table of parseTables(output)) {
        const [metric, measured] = [table.headers.indexOf('Metric'), table.headers.indexOf('Measured')];
        const [phase, cpu] = [table.headers.indexOf('Phase'), table.headers.indexOf('CPU ms/req srv+pg')];
        for (const row of table.rows) {
          const name = metric >= 0 && row[metric].match(/^(.*): throughput$/)?.[1];
          const rate = measured >= 0 && row[measured].match(/^([\d,.]+)\/s/)?.[1];
          if (name && rate) rates.set(name, Number(rate.replaceAll(',', '')));
          // Phase names carry details after a colon or in parentheses, and may contain a '|' that
          // splits the cell: the name is the first cell's head, the CPU column the last cell.
          const last = row[row.length - 1];
          if (phase >= 0 && cpu >= 0 && Number.isFinite(Number(last))) cpuMs.set(row[0].split(/:| \(/)[0], Number(last));
        }
      }
      if (rates.size === 0) fail(new Error(`the FHIR benchmark (${mode}) printed no rates:\n${output.slice(-2000)}`));
      else done({ rates, cpuMs });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const runs: Record<Mode, Run[]> = { baseline: [], secured: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of ['baseline', 'secured'] as const) {
      log(`round ${round}/${ROUNDS}: ${mode}`);
      runs[mode].push(await runFhirBench(mode));
    }
  }
  const checks: Check[] = [];
  for (const figure of runs.baseline[0].rates.keys()) {
    const base = median(runs.baseline.map((r) => r.rates.get(figure) ?? 0));
    const secured = median(runs.secured.map((r) => r.rates.get(figure) ?? 0));
    const cost = base > 0 ? 1 - secured / base : 1;
    checks.push({
      metric: `${figure}: secured vs baseline`,
      target: `≥ ${Math.round((1 - MAX_COST) * 100)} %`,
      measured: `${Math.round((secured / base) * 100)} %`,
      pass: cost <= MAX_COST,
      note: `${fmtRate(secured)} with auth + ${ROLE} policy + audit; ${fmtRate(base)} baseline (median of ${ROUNDS})`,
    });
  }
  // CPU per request moves less with other processes' load than rates do; shown for comparison.
  for (const figure of runs.baseline[0].cpuMs.keys()) {
    const base = median(runs.baseline.map((r) => r.cpuMs.get(figure) ?? 0));
    const secured = median(runs.secured.map((r) => r.cpuMs.get(figure) ?? 0));
    checks.push({
      metric: `${figure}: CPU per request, secured vs baseline`,
      target: '-',
      measured: base > 0 ? `${secured >= base ? '+' : '−'}${Math.abs(Math.round((secured / base - 1) * 100))} %` : '-',
      pass: undefined,
      note: `${secured.toFixed(2)} ms vs ${base.toFixed(2)} ms (server + PostgreSQL)`,
    });
  }
  process.stdout.write(
    `\n## Authentication, AccessPolicy and audit cost\n\nbaseline: token verified once then trusted, no AccessPolicy, no audit; ` +
      `secured: the real server, a client with the ${ROLE} AccessPolicy; ${ROUNDS} alternating round(s) each\n`,
  );
  printChecks('Secured rate as a share of the baseline (target: within 15 %)', checks);
  if (checks.some((c) => c.pass === false)) process.exitCode = 1;
}

runMain(main);
