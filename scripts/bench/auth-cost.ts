// What authentication, access policies and the audit trail cost (issue 3's benchmark): the FHIR
// benchmark's create, read and search figures on
//   - the baseline server (scripts/bench/lib/baseline-server.ts: token verified once then trusted,
//     no AccessPolicy, no audit), and
//   - the real server, as a client bound to the ED physician's AccessPolicy (every request verified,
//     authorised in SQL and audited).
// Target: every secured rate within 15 % of its baseline.
//
// How, so that the machine's own drift cancels out: this machine's speed moves by a third within
// minutes (the same baseline read phase measured 4,100/s and 6,800/s in one hour), more than the
// difference measured here. Both servers run side by side, each on its own scratch database, and
// every figure is measured in short slices that alternate between them (baseline, secured, secured,
// baseline, …): BENCH_AUTH_ROUNDS pairs. A figure's result is the median of its pairs' ratios.
// Before each slice both servers finish their background work; the secured server's (indexing the
// audit records of its last slice) is measured and reported per audited request, not hidden.
//
//   node scripts/bench/auth-cost.ts        (npm run bench:auth)
//
// Environment: BENCH_AUTH_ROUNDS=5 pairs per figure, BENCH_AUTH_SLICE=4 seconds per slice,
// BENCH_WARMUP=3 seconds per server and figure, BENCH_CONNECTIONS=8, BENCH_ROLE=ed-physician,
// BENCH_BASELINE_KEEP (see baseline-server.ts), BENCH_QUIET_WAIT=60 (seconds to wait for a server to settle),
// BENCH_SERVER_NODE_ARGS (node flags for both servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"),
// BENCH_AUTH_FIGURES (a comma list of figure names, e.g. "create Patient,search token").
import type { AutocannonRequest } from 'autocannon';
import { accessToken, authHeaders, roleToken, scratchServerDatabase, serverEnv } from './lib/auth.ts';
import { runMain } from './lib/cleanup.ts';
import { cpuBetween, cpuSnapshot, setBenchDatabase, waitForQuiet, waitServerSettled } from './lib/cpu.ts';
import { LOINC, MRN_SYSTEM, makeObservation, makePatient, rng } from './lib/data.ts';
import { runAutocannon } from './lib/load.ts';
import { databaseName } from './lib/pg.ts';
import { type ObservationRef, type PatientRef, sampleObservations, samplePatients } from './lib/samples.ts';
import { readIdleCollections, type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { type Check, fmtRate, log, median, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const ROUNDS = num(process.env.BENCH_AUTH_ROUNDS, 5);
const SLICE = num(process.env.BENCH_AUTH_SLICE, 4);
const WARMUP = num(process.env.BENCH_WARMUP, 3);
const CONNECTIONS = num(process.env.BENCH_CONNECTIONS, 8);
const QUIET_WAIT = num(process.env.BENCH_QUIET_WAIT, 60);
const ROLE = process.env.BENCH_ROLE || 'ed-physician';
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** Some figures only, e.g. "create Patient,search token" (searches need the create figures' data). */
const ONLY = process.env.BENCH_AUTH_FIGURES?.split(',').map((f) => f.trim());
const MAX_COST = 0.15;
const KEEPS_POLICY = (process.env.BENCH_BASELINE_KEEP ?? '').split(',').includes('policy');

type Mode = 'baseline' | 'secured';

interface Server {
  mode: Mode;
  proc: ServerProcess;
  databaseUrl: string;
  headers: Record<string, string>;
  patients: PatientRef[];
  observations: ObservationRef[];
  created: { patients: number; observations: number };
}

interface Slice {
  rps: number;
  failed: number;
  /** CPU milliseconds per request: the server process's and PostgreSQL's. */
  serverMs: number;
  postgresMs: number;
  /** Server CPU seconds of background work finished before the slice (audit indexing). */
  settledCpuSeconds: number;
  requests: number;
}

/** A figure's request on one server (its own token and its own data). */
type Figure = { name: string; request: (s: Server) => AutocannonRequest };

/** Server + PostgreSQL CPU milliseconds per request. */
const cpuMs = (s: Slice): number => s.serverMs + s.postgresMs;

async function startServer(mode: Mode): Promise<Server> {
  const { name, databaseUrl, creds } = await scratchServerDatabase(`es_auth_${mode === 'baseline' ? 'b' : 's'}`);
  const proc = await startServerProcess({
    databaseUrl,
    env: serverEnv(creds),
    nodeArgs: SERVER_NODE_ARGS,
    entry: mode === 'baseline' ? 'scripts/bench/lib/baseline-server.ts' : undefined,
  });
  const admin = await accessToken(proc.url, creds);
  // A baseline that keeps the AccessPolicy on (BENCH_BASELINE_KEEP) acts under the same role as the secured server.
  const token = mode === 'baseline' && !KEEPS_POLICY ? admin : await roleToken(proc.url, admin, ROLE);
  log(`${mode} server pid ${proc.pid} on ${name}${mode === 'secured' ? `, as a client with the ${ROLE} AccessPolicy` : ''}`);
  return {
    mode,
    proc,
    databaseUrl,
    headers: authHeaders(token),
    patients: [],
    observations: [],
    created: { patients: 0, observations: 0 },
  };
}

/** Waits until both servers are idle: what one deferred (audit indexing) must not land in the other's slice. */
async function settle(servers: Server[]): Promise<Map<Mode, number>> {
  const done = await Promise.all(servers.map((s) => waitServerSettled(s.proc.pid, QUIET_WAIT, 3)));
  await waitForQuiet(undefined, QUIET_WAIT);
  return new Map(servers.map((s, i) => [s.mode, done[i].busySeconds]));
}

async function measure(server: Server, figure: Figure, seconds: number): Promise<Omit<Slice, 'settledCpuSeconds'>> {
  setBenchDatabase(databaseName(server.databaseUrl));
  const before = cpuSnapshot(server.proc.pid);
  const result = await runAutocannon({
    name: `${figure.name} (${server.mode})`,
    url: server.proc.url.replace(/\/$/, ''),
    connections: CONNECTIONS,
    seconds,
    requests: [figure.request(server)],
  });
  const after = cpuSnapshot(server.proc.pid);
  const cpu = cpuBetween(before, after);
  const requests = result.ok + result.failed;
  // Percent of a core over the slice's seconds → milliseconds per request.
  const perRequest = (pct: number) => (requests > 0 ? (pct * 10 * ((after.at - before.at) / 1000)) / requests : 0);
  const [serverMs, postgresMs] = [perRequest(cpu.server), perRequest(cpu.postgres)];
  return { rps: result.rps, failed: result.failed, serverMs, postgresMs, requests };
}

async function runFigure(servers: Server[], figure: Figure): Promise<Record<Mode, Slice[]>> {
  const slices: Record<Mode, Slice[]> = { baseline: [], secured: [] };
  // What a server finishes while settling is the work its last slice deferred.
  const settleAndCredit = async (): Promise<void> => {
    const settled = await settle(servers);
    for (const s of servers) {
      const last = slices[s.mode].at(-1);
      if (last) last.settledCpuSeconds += settled.get(s.mode) ?? 0;
    }
  };
  for (const server of servers) {
    await settle(servers);
    await measure(server, figure, WARMUP);
  }
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA order: neither server always goes first after the pause.
    for (const server of round % 2 ? [...servers].reverse() : servers) {
      await settleAndCredit();
      const slice = { ...(await measure(server, figure, SLICE)), settledCpuSeconds: 0 };
      slices[server.mode].push(slice);
      if (slice.failed > 0) log(`${figure.name} (${server.mode}): ${slice.failed} failed requests`);
      log(
        `${figure.name} (${server.mode}) round ${round + 1}/${ROUNDS}: ${fmtRate(slice.rps)}, ${cpuMs(slice).toFixed(3)} ms CPU/req (server ${slice.serverMs.toFixed(3)}, PostgreSQL ${slice.postgresMs.toFixed(3)})`,
      );
    }
  }
  // The last slices' deferred work: finished before the next figure starts.
  await settleAndCredit();
  return slices;
}

async function main(): Promise<void> {
  const servers = [await startServer('baseline'), await startServer('secured')];
  const r = rng(42);
  const pick = <T>(list: T[]): T => list[Math.floor(r() * list.length)];
  const json = (s: Server) => ({ ...s.headers, 'content-type': 'application/fhir+json' });
  const get = (s: Server, path: () => string): AutocannonRequest => ({
    method: 'GET',
    headers: { ...s.headers, accept: 'application/fhir+json' },
    setupRequest: (req) => ({ ...req, path: `/fhir/R4/${path()}` }),
  });
  const figures: Figure[] = [
    {
      name: 'create Patient',
      // The same patients on both databases: the counter is per server.
      request: (s) => ({
        method: 'POST',
        path: '/fhir/R4/Patient',
        headers: json(s),
        setupRequest: (req) => ({ ...req, body: JSON.stringify(makePatient(s.created.patients++)) }),
      }),
    },
    {
      name: 'create Observation',
      request: (s) => ({
        method: 'POST',
        path: '/fhir/R4/Observation',
        headers: json(s),
        setupRequest: (req) => ({ ...req, body: JSON.stringify(makeObservation(s.created.observations++, pick(s.patients).id)) }),
      }),
    },
    {
      name: 'read by id',
      request: (s) => {
        const ids = [...s.patients.map((p) => `Patient/${p.id}`), ...s.observations.map((o) => `Observation/${o.id}`)];
        return get(s, () => pick(ids));
      },
    },
    {
      name: 'search token',
      request: (s) => get(s, () => `Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|${pick(s.patients).mrn}`)}`),
    },
    {
      name: 'search token+ref',
      request: (s) =>
        get(s, () => {
          const o = pick(s.observations);
          return `Observation?code=${encodeURIComponent(`${LOINC}|${o.code}`)}&subject=${encodeURIComponent(o.subject)}`;
        }),
    },
    { name: 'search string', request: (s) => get(s, () => `Patient?name=${encodeURIComponent(pick(s.patients).family)}`) },
  ];

  const results = new Map<string, Record<Mode, Slice[]>>();
  for (const figure of figures.filter((f) => !ONLY || ONLY.includes(f.name))) {
    log(`${figure.name}: ${ROUNDS} alternating pairs of ${SLICE} s slices`);
    results.set(figure.name, await runFigure(servers, figure));
    if (figure.name === 'create Patient' || figure.name === 'create Observation') {
      for (const s of servers) {
        s.patients = await samplePatients(s.databaseUrl, 5000);
        s.observations = await sampleObservations(s.databaseUrl, 5000);
      }
    }
  }
  const collections = await Promise.all(servers.map((s) => readIdleCollections(s.proc)));
  for (const s of servers) await s.proc.stop(60_000);

  const checks: Check[] = [];
  const rows: (string | number)[][] = [];
  for (const [name, slices] of results) {
    const ratios = slices.secured.map((s, i) => s.rps / slices.baseline[i].rps);
    const ratio = median(ratios);
    const [base, secured] = [median(slices.baseline.map((s) => s.rps)), median(slices.secured.map((s) => s.rps))];
    const failed = [...slices.baseline, ...slices.secured].reduce((n, s) => n + s.failed, 0);
    checks.push({
      metric: `${name}: secured vs baseline`,
      target: `≥ ${Math.round((1 - MAX_COST) * 100)} %`,
      measured: `${Math.round(ratio * 100)} %`,
      pass: ratio >= 1 - MAX_COST && failed === 0,
      note:
        `pairs ${ratios.map((x) => Math.round(x * 100)).join(' / ')} %; medians ${fmtRate(secured)} vs ${fmtRate(base)}` +
        (failed > 0 ? `; ${failed} failed requests` : ''),
    });
    const indexed = slices.secured.reduce((n, s) => n + s.settledCpuSeconds, 0);
    const audited = slices.secured.reduce((n, s) => n + s.requests, 0);
    rows.push([
      name,
      median(slices.baseline.map(cpuMs)).toFixed(3),
      median(slices.secured.map(cpuMs)).toFixed(3),
      audited > 0 ? ((indexed * 1000) / audited).toFixed(3) : '-',
    ]);
  }
  // A collection deoptimises the request path (server/ops/idle-gc.ts): the slices after one run slower.
  checks.push({
    metric: 'idle collections during the run (baseline / secured)',
    target: '-',
    measured: collections.map((n) => n ?? '?').join(' / '),
    pass: undefined,
  });
  process.stdout.write(
    `\n## Authentication, AccessPolicy and audit cost\n\nbaseline: token verified once then trusted, no AccessPolicy, no audit; ` +
      `secured: the real server, a client with the ${ROLE} AccessPolicy; ${ROUNDS} alternating pairs of ${SLICE} s slices per figure, ` +
      `${CONNECTIONS} connections, each server on its own database\n`,
  );
  printChecks('Secured rate as a share of the baseline, median of the pairs (target: within 15 %)', checks);
  printTable(
    'CPU per request (server + PostgreSQL, medians), and the secured server’s deferred work (audit indexing after each slice, server CPU)',
    ['Figure', 'baseline ms', 'secured ms', 'secured deferred ms'],
    rows,
  );
  if (checks.some((c) => c.pass === false)) process.exitCode = 1;
}

runMain(main);
