// What a pause between bursts costs the next burst (server/ops/idle-gc.ts): per-second read rates
// after each pause, on two copies of the real server side by side, each on its own scratch database:
//   - one whose idle collection runs after 1 s of quiet (IDLE_GC_QUIET_SECONDS=1, as before stop 32);
//   - one as shipped (30 s of quiet: a pause of a few seconds does not count as idle).
// A full collection of an idle server deoptimises its request path, so the first server's bursts
// start slow; the shipped one's should run at full speed from their first second.
//
//   node scripts/bench/idle-warmup.ts        (npm run bench:idle)
//
// Environment: BENCH_IDLE_CYCLES=6 bursts per server (the first warms up and is not counted),
// BENCH_IDLE_BURST=6 one-second slices per burst, BENCH_IDLE_PAUSE=5 seconds of quiet before each
// burst (the servers take turns, so each also idles through the other's burst), BENCH_CONNECTIONS=8.
// Target: the shipped server's first second after a pause within 15 % of its full speed (the
// median of the burst's second half).
import type { Patient } from '@medplum/fhirtypes';
import { accessToken, authHeaders, scratchServerDatabase, serverEnv } from './lib/auth.ts';
import { runMain } from './lib/cleanup.ts';
import { makePatient } from './lib/data.ts';
import { runAutocannon } from './lib/load.ts';
import { readIdleCollections, type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { type Check, fmtRate, log, median, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const CYCLES = Math.max(2, num(process.env.BENCH_IDLE_CYCLES, 6));
const BURST = Math.max(2, num(process.env.BENCH_IDLE_BURST, 6));
const PAUSE = num(process.env.BENCH_IDLE_PAUSE, 5);
const CONNECTIONS = num(process.env.BENCH_CONNECTIONS, 8);
const PATIENTS = 200;
const MAX_COST = 0.15;

interface Variant {
  label: string;
  quietSeconds: number;
  proc?: ServerProcess;
  headers: Record<string, string>;
  ids: string[];
  /** Per burst (after the first), its per-second read rates. */
  bursts: number[][];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(variant: Variant): Promise<void> {
  const { name, databaseUrl, creds } = await scratchServerDatabase('es_idle');
  const proc = await startServerProcess({
    databaseUrl,
    env: { ...serverEnv(creds), IDLE_GC: 'true', IDLE_GC_QUIET_SECONDS: String(variant.quietSeconds) },
  });
  variant.proc = proc;
  variant.headers = { ...authHeaders(await accessToken(proc.url, creds)), accept: 'application/fhir+json' };
  for (let i = 0; i < PATIENTS; i++) {
    const res = await fetch(`${proc.url}fhir/R4/Patient`, {
      method: 'POST',
      headers: { ...variant.headers, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(makePatient(i)),
    });
    if (res.status !== 201) throw new Error(`creating a Patient answered ${res.status}: ${await res.text()}`);
    variant.ids.push(((await res.json()) as Patient).id as string);
  }
  log(`${variant.label}: pid ${proc.pid} on ${name}, ${PATIENTS} patients`);
}

/** One burst of reads as BURST one-second slices; returns each second's rate. */
async function burst(variant: Variant): Promise<number[]> {
  const proc = variant.proc as ServerProcess;
  let next = 0;
  const rates: number[] = [];
  for (let s = 0; s < BURST; s++) {
    const result = await runAutocannon({
      name: `${variant.label} second ${s + 1}`,
      url: proc.url.replace(/\/$/, ''),
      connections: CONNECTIONS,
      seconds: 1,
      requests: [
        {
          method: 'GET',
          headers: variant.headers,
          setupRequest: (req) => ({ ...req, path: `/fhir/R4/Patient/${variant.ids[next++ % variant.ids.length]}` }),
        },
      ],
    });
    if (result.failed > 0) throw new Error(`${variant.label}: ${result.failed} failed reads`);
    rates.push(result.rps);
  }
  return rates;
}

async function main(): Promise<void> {
  const variants: Variant[] = [
    { label: 'collects after 1 s of quiet', quietSeconds: 1, headers: {}, ids: [], bursts: [] },
    { label: 'as shipped (30 s of quiet)', quietSeconds: 30, headers: {}, ids: [], bursts: [] },
  ];
  for (const v of variants) await start(v);
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // Always in turn: each server's pause is PAUSE, the other's burst and PAUSE again (about 16 s),
    // never just PAUSE, so every pause is long enough for the short-quiet server to collect.
    for (const v of variants) {
      await sleep(PAUSE * 1000);
      const rates = await burst(v);
      log(`${v.label}, burst ${cycle + 1}/${CYCLES}: ${rates.map((r) => fmtRate(r)).join(' ')}`);
      if (cycle > 0) v.bursts.push(rates);
    }
  }
  const collections = await Promise.all(variants.map((v) => readIdleCollections(v.proc as ServerProcess)));
  for (const v of variants) await v.proc?.stop(60_000);

  const seconds = Array.from({ length: BURST }, (_, s) => s);
  const rows = variants.map((v, i) => [v.label, ...seconds.map((s) => fmtRate(median(v.bursts.map((b) => b[s])))), collections[i] ?? '?']);
  process.stdout.write(
    `\n## Read rate in the seconds after a pause\n\n${CYCLES - 1} bursts per server after a warm-up one; between its bursts each server ` +
      `pauses about ${2 * PAUSE + BURST} s (${PAUSE} s of quiet, the other server's ${BURST} s burst, ${PAUSE} s of quiet); ` +
      `${CONNECTIONS} connections, reads by id of ${PATIENTS} patients; medians per second\n`,
  );
  printTable(
    'Per-second read rate after a pause (median of the bursts)',
    ['Server', ...seconds.map((s) => `second ${s + 1}`), 'idle collections'],
    rows,
  );
  // Full speed: the median of a burst's second half (one slow second, e.g. a collection of V8's own, does not move it).
  const fullSpeed = (b: number[]) => median(b.slice(Math.ceil(b.length / 2)));
  const checks: Check[] = variants.map((v, i) => {
    const ratio = median(v.bursts.map((b) => b[0] / fullSpeed(b)));
    const shipped = i === variants.length - 1;
    return {
      metric: `${v.label}: first second after a pause vs full speed`,
      target: shipped ? `≥ ${Math.round((1 - MAX_COST) * 100)} %` : '-',
      measured: `${Math.round(ratio * 100)} %`,
      pass: shipped ? ratio >= 1 - MAX_COST : undefined,
      note: `median of ${v.bursts.length} bursts; ${collections[i] ?? '?'} idle collections`,
    };
  });
  printChecks('The cost of a pause', checks);
  if (checks.some((c) => c.pass === false)) process.exitCode = 1;
}

runMain(main);
