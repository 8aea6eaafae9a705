// CPU cost of the FHIR write path, per written resource.
//
//   node scripts/bench/write-cost.ts        (npm run bench:write-cost)
//
// Wall-clock rates on a shared 2-core machine say more about the neighbours than about the
// server, so this counts CPU instead: a fixed number of writes is sent, and the CPU time the
// server process and the PostgreSQL backends of the scratch database used meanwhile is divided
// by the number of resources written. Each workload runs BENCH_ROUNDS times (default 3); the
// table shows the lowest figure (interference only ever adds CPU) and the median.
//
// Workloads: POST Patient (8 connections), POST Observation (8), transaction Bundles of 20
// patients × (1 + 4 observations) with urn:uuid references (4 bundles in flight), as in fhir.ts.
// Each workload starts once the server has finished the previous one's deferred work (indexing the
// audit events of its requests, logged as CPU-s): otherwise Observation paid for Patient's.
// Environment: BENCH_ROUNDS, BENCH_CREATES (per round, default 1500), BENCH_BUNDLES (default 20),
// BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { readdirSync, readFileSync } from 'node:fs';
import { accessToken, authHeaders, credentialsFor, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { waitServerSettled } from './lib/cpu.ts';
import { makeObservation, makePatient, makeTransactionBundle } from './lib/data.ts';
import { ADMIN_URL, createDatabase, databaseName, dropDatabase, scratchName, withClient } from './lib/pg.ts';
import { startServerProcess } from './lib/server-process.ts';
import { log, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const ROUNDS = num(process.env.BENCH_ROUNDS, 3);
const CREATES = num(process.env.BENCH_CREATES, 1500);
const BUNDLES = num(process.env.BENCH_BUNDLES, 20);
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const TICKS_PER_SECOND = 100;

function ticksOf(pid: string | number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** CPU ticks of each PostgreSQL backend connected to `database` (not the shared background processes). */
function backendTicks(database: string): Map<string, number> {
  const out = new Map<string, number>();
  const pattern = new RegExp(`^postgres: [^:]+: \\S+ ${database} `);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'postgres') continue;
      if (pattern.test(readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' '))) out.set(name, ticksOf(name));
    } catch {
      // the process went away
    }
  }
  return out;
}

/** Ticks used between two snapshots by backends alive at the end (one that exited meanwhile is not counted). */
function backendDelta(before: Map<string, number>, after: Map<string, number>): number {
  let sum = 0;
  for (const [pid, ticks] of after) sum += ticks - (before.get(pid) ?? 0);
  return sum;
}

/** Sends `bodies` with `concurrency` requests in flight; throws on any non-2xx answer. */
async function send(url: string, headers: Record<string, string>, bodies: string[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await fetch(url, { method: 'POST', headers, body });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

interface Workload {
  name: string;
  path: string;
  concurrency: number;
  resourcesPerRequest: number;
  bodies: (round: number) => string[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const name = scratchName('es_wcost');
  const databaseUrl = await createDatabase(ADMIN_URL, name);
  onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));
  const creds = await credentialsFor(databaseUrl);
  const server = await startServerProcess({ databaseUrl, nodeArgs: SERVER_NODE_ARGS, env: serverEnv(creds) });
  onCleanup('stop server', () => server.stop().then(() => undefined));
  const headers = {
    'content-type': 'application/fhir+json',
    accept: 'application/fhir+json',
    ...authHeaders(await accessToken(server.url, creds)),
  };
  const patientIds = await withClient(databaseUrl, async (c) => {
    // Observations need subjects: a few patients made through the API.
    await send(
      `${server.fhirUrl}Patient`,
      headers,
      Array.from({ length: 50 }, (_, i) => JSON.stringify(makePatient(900_000 + i))),
      4,
    );
    return (await c.query<{ id: string }>("SELECT id FROM resource WHERE resource_type = 'Patient'")).rows.map((r) => r.id);
  });
  const workloads: Workload[] = [
    {
      name: 'create Patient (POST)',
      path: 'Patient',
      concurrency: 8,
      resourcesPerRequest: 1,
      bodies: (round) => Array.from({ length: CREATES }, (_, i) => JSON.stringify(makePatient(round * CREATES + i))),
    },
    {
      name: 'create Observation (POST)',
      path: 'Observation',
      concurrency: 8,
      resourcesPerRequest: 1,
      bodies: (round) =>
        Array.from({ length: CREATES }, (_, i) => JSON.stringify(makeObservation(round * CREATES + i, patientIds[i % patientIds.length]))),
    },
    {
      name: 'transaction Bundle (100 entries, urn:uuid refs)',
      path: '',
      concurrency: 4,
      resourcesPerRequest: 100,
      bodies: (round) => Array.from({ length: BUNDLES }, (_, i) => JSON.stringify(makeTransactionBundle(round * BUNDLES + i, 20, 4))),
    },
  ];
  const database = databaseName(databaseUrl);
  const rows: string[][] = [];
  for (const w of workloads) {
    // The previous workload's deferred work (indexing its audit events) is not this one's cost.
    const settle = await waitServerSettled(server.pid, 60);
    if (settle.busySeconds >= 0.1) {
      log(`${w.name}: the server first finished earlier background work (${settle.busySeconds.toFixed(1)} CPU-s)`);
    }
    // A warm-up round first: JIT, prepared statements, caches.
    await send(
      `${server.fhirUrl}${w.path}`,
      headers,
      w.bodies(1000).slice(0, Math.max(8, Math.floor(w.bodies(1000).length / 5))),
      w.concurrency,
    );
    const server_: number[] = [];
    const pg_: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const bodies = w.bodies(round);
      const s0 = ticksOf(server.pid);
      const p0 = backendTicks(database);
      const t0 = performance.now();
      await send(`${server.fhirUrl}${w.path}`, headers, bodies, w.concurrency);
      const seconds = (performance.now() - t0) / 1000;
      const resources = bodies.length * w.resourcesPerRequest;
      const us = (ticks: number) => (ticks / TICKS_PER_SECOND / resources) * 1e6;
      server_.push(us(ticksOf(server.pid) - s0));
      pg_.push(us(backendDelta(p0, backendTicks(database))));
      log(
        `${w.name}: round ${round + 1}: ${resources} resources in ${seconds.toFixed(1)} s, server ${server_.at(-1)?.toFixed(0)} µs + PostgreSQL ${pg_.at(-1)?.toFixed(0)} µs CPU per resource`,
      );
    }
    const totals = server_.map((s, i) => s + pg_[i]);
    const best = totals.indexOf(Math.min(...totals));
    rows.push([
      w.name,
      String(w.concurrency),
      `${server_[best].toFixed(0)} µs`,
      `${pg_[best].toFixed(0)} µs`,
      `${totals[best].toFixed(0)} µs`,
      `${median(totals).toFixed(0)} µs`,
      `${(1e6 / totals[best]).toFixed(0)}/s`,
    ]);
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  printTable(
    `CPU per written resource (best of ${ROUNDS} rounds; server process + PostgreSQL backends of the database; load average ${load})`,
    ['Workload', 'Conns', 'Server', 'PostgreSQL', 'Total (best)', 'Total (median)', 'Ceiling on one core'],
    rows,
  );
}

runMain(main);
