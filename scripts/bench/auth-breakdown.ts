// Where the cost of authentication, AccessPolicy and audit goes (issue 3), robust to a loaded machine.
//
//   node scripts/bench/auth-breakdown.ts      (npm run bench:auth-breakdown)
//
// The baseline server (scripts/bench/lib/baseline-server.ts) and the real server (a client with the
// ed-physician AccessPolicy) run side by side on one scratch database. Each phase sends a fixed
// number of requests (not a fixed time) to one server, then waits until the audit backlog is indexed,
// and prints per request: server CPU and CPU of the database's PostgreSQL backends during the phase,
// the same for the deferred AuditEvent indexing afterwards (which bench:auth only sees when it
// happens to land inside a phase), commits and inserted rows (pg_stat_database). CPU comes from
// /proc per process id, so other processes' load inflates it less than it does rates.
//
// Environment: BENCH_AB_REQUESTS=3000 per phase, BENCH_AB_ROUNDS=2, BENCH_AB_CONNECTIONS=8, BENCH_AB_MODES=baseline,secured
// (also: committed, the secured server without its audit journal: every answer waits for its audit commit),
// BENCH_AB_PHASES=read,token,tokenref (also: createobs, POST Observation), BENCH_AB_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"),
// BENCH_AB_OLD_ENTRY: a server entry of another checkout, measured as mode "old" when listed;
// baseline+<parts>: the baseline server keeping those parts on (BENCH_BASELINE_KEEP, e.g. baseline+audit).
import { readFileSync } from 'node:fs';
import type { Observation, Patient } from '@medplum/fhirtypes';
import autocannon from 'autocannon';
import { migrate } from '../../server/db/migrate.ts';
import { accessToken, authHeaders, credentialsFor, roleToken, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { LOINC, MRN_SYSTEM, makeObservation, makeTransactionBundle, rng } from './lib/data.ts';
import { ADMIN_URL, createDatabase, databaseName, dropDatabase, scratchName, withClient } from './lib/pg.ts';
import { type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { log, printTable } from './lib/table.ts';

const N = Number(process.env.BENCH_AB_REQUESTS) || 3000;
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS) || 2;
const CONNS = Number(process.env.BENCH_AB_CONNECTIONS) || 8;
const MODES = (process.env.BENCH_AB_MODES || 'baseline,secured').split(',');
const PHASES = (process.env.BENCH_AB_PHASES || 'read,token,tokenref').split(',');
const NODE_ARGS = (process.env.BENCH_AB_NODE_ARGS ?? '').split(' ').filter(Boolean);
const OLD_ENTRY = process.env.BENCH_AB_OLD_ENTRY;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ticks(pid: number): number {
  try {
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = rest.slice(rest.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return Number.NaN;
  }
}

async function backendPids(url: string, db: string): Promise<number[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
      db,
    ]);
    return rows.map((r) => r.pid);
  });
}

async function dbStats(url: string, db: string): Promise<Record<string, number>> {
  return withClient(url, async (c) => {
    const { rows } = await c.query(
      'SELECT xact_commit::int8 AS commits, tup_inserted::int8 AS ins, tup_returned::int8 AS ret, tup_fetched::int8 AS fetched FROM pg_stat_database WHERE datname = $1',
      [db],
    );
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
  });
}

async function auditBacklog(url: string): Promise<number> {
  return withClient(url, async (c) =>
    Number(
      (
        await c.query(
          'SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM audit_rest_log) + (SELECT coalesce(sum(count), 0) FROM audit_record_batch) AS n',
        )
      ).rows[0].n,
    ),
  );
}

/** A phase's request: a GET of a path, or (createobs) a POST of a new resource. */
type Phase = () => string | { path: string; body: string };

function run(
  url: string,
  amount: number,
  auth: Record<string, string>,
  phase: Phase,
): Promise<{ ok: number; bad: number; secs: number; p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: CONNS,
        amount,
        requests: [
          {
            headers: { accept: 'application/fhir+json', 'content-type': 'application/fhir+json', ...auth },
            setupRequest: (r) => {
              const next = phase();
              return typeof next === 'string' ? { ...r, method: 'GET', path: next } : { ...r, method: 'POST', ...next };
            },
          },
        ],
      },
      (err, res) =>
        err
          ? reject(err)
          : resolve({ ok: res['2xx'], bad: res.non2xx + res.errors, secs: res.duration, p50: res.latency.p50, p99: res.latency.p99 }),
    );
  });
}

async function main(): Promise<void> {
  const name = scratchName('es_ab');
  const dbUrl = await createDatabase(ADMIN_URL, name);
  onCleanup(`drop ${name}`, () => dropDatabase(ADMIN_URL, name));
  await migrate(dbUrl);
  const creds = await credentialsFor(dbUrl);
  const db = databaseName(dbUrl);
  const servers: Record<string, { proc: ServerProcess; auth: Record<string, string> }> = {};
  for (const mode of MODES) {
    // baseline+audit,policy: the baseline server with those parts kept on (BENCH_BASELINE_KEEP).
    const [kind, kept] = mode.split('+');
    const env = kind === 'committed' ? { ...serverEnv(creds), AUDIT_JOURNAL_DIR: 'off' } : serverEnv(creds);
    const proc = await startServerProcess({
      databaseUrl: dbUrl,
      env: kept ? { ...env, BENCH_BASELINE_KEEP: kept } : env,
      nodeArgs: NODE_ARGS,
      entry: kind === 'baseline' ? 'scripts/bench/lib/baseline-server.ts' : kind === 'old' ? OLD_ENTRY : undefined,
    });
    const admin = (await accessToken(proc.url, creds)) as string;
    const token = kind === 'baseline' && !kept?.includes('policy') ? admin : await roleToken(proc.url, admin, 'ed-physician');
    servers[mode] = { proc, auth: authHeaders(token) };
  }
  const first = servers[MODES[0]];
  for (let i = 0; i < 10; i++) {
    const res = await fetch(first.proc.fhirUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', ...first.auth },
      body: JSON.stringify(makeTransactionBundle(900_000 + i, 20, 4)),
    });
    if (!res.ok) throw new Error(`seed ${res.status}`);
  }
  const { patients, observations } = await withClient(dbUrl, async (c) => {
    const p = await c.query<{ id: string; content: string }>(
      "SELECT id, content FROM resource WHERE resource_type='Patient' AND NOT deleted",
    );
    const o = await c.query<{ id: string; content: string }>(
      "SELECT id, content FROM resource WHERE resource_type='Observation' AND NOT deleted",
    );
    return {
      patients: p.rows.map((r) => ({ id: r.id, p: JSON.parse(r.content) as Patient })),
      observations: o.rows.map((r) => ({ id: r.id, o: JSON.parse(r.content) as Observation })),
    };
  });
  const r = rng(7);
  const pick = <T>(l: T[]) => l[Math.floor(r() * l.length)];
  let created = 0;
  const paths: Record<string, Phase> = {
    createobs: () => ({ path: '/fhir/R4/Observation', body: JSON.stringify(makeObservation(created++, pick(patients).id)) }),
    read: () => (r() < 0.5 ? `/fhir/R4/Patient/${pick(patients).id}` : `/fhir/R4/Observation/${pick(observations).id}`),
    token: () => {
      const p = pick(patients).p;
      const mrn = p.identifier?.find((i) => i.system === MRN_SYSTEM)?.value ?? '';
      return `/fhir/R4/Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|${mrn}`)}`;
    },
    tokenref: () => {
      const o = pick(observations).o;
      return `/fhir/R4/Observation?code=${encodeURIComponent(`${LOINC}|${o.code?.coding?.[0]?.code}`)}&subject=${encodeURIComponent(o.subject?.reference ?? '')}`;
    },
  };
  const rows: (string | number)[][] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const phase of PHASES) {
      for (const mode of MODES) {
        const { proc, auth } = servers[mode];
        await run(proc.url, 500, auth, paths[phase]); // warmup
        // Let any audit indexing from earlier finish so it is not counted here.
        while ((await auditBacklog(dbUrl)) > 0) await sleep(500);
        await sleep(1500);
        const pids = await backendPids(dbUrl, db);
        const s0 = ticks(proc.pid);
        const p0 = new Map(pids.map((p) => [p, ticks(p)]));
        const d0 = await dbStats(dbUrl, db);
        const res = await run(proc.url, N, auth, paths[phase]);
        const s1 = ticks(proc.pid);
        let pg = 0;
        for (const p of await backendPids(dbUrl, db)) {
          const t = ticks(p);
          if (Number.isFinite(t)) pg += t - (p0.get(p) ?? 0);
        }
        // The deferred part: audit records indexed into AuditEvents after the phase.
        const tail0s = ticks(proc.pid);
        const tailPids = await backendPids(dbUrl, db);
        const tp0 = new Map(tailPids.map((p) => [p, ticks(p)]));
        const backlog = await auditBacklog(dbUrl);
        const tStart = Date.now();
        while ((await auditBacklog(dbUrl)) > 0 && Date.now() - tStart < 120_000) await sleep(250);
        const tailSrv = ticks(proc.pid) - tail0s;
        let tailPg = 0;
        for (const p of await backendPids(dbUrl, db)) {
          const t = ticks(p);
          if (Number.isFinite(t)) tailPg += t - (tp0.get(p) ?? 0);
        }
        await sleep(1200);
        const d1 = await dbStats(dbUrl, db);
        const per = (x: number) => ((x * 10) / N).toFixed(3); // ticks (10 ms) → ms per request
        const row = [
          phase,
          mode,
          round + 1,
          `${res.ok}/${res.ok + res.bad}`,
          (res.ok / res.secs).toFixed(0),
          res.p50,
          res.p99,
          per(s1 - s0),
          per(pg),
          per(tailSrv),
          per(tailPg),
          backlog,
          ((d1.commits - d0.commits) / N).toFixed(2),
          ((d1.ins - d0.ins) / N).toFixed(1),
        ];
        log(row.join(' | '));
        rows.push(row);
      }
    }
  }
  for (const [mode, { proc }] of Object.entries(servers)) {
    // Generous: a server started with --cpu-prof writes its profile on the way out.
    log(`${mode}: stopped in ${(await proc.stop(60_000)).toFixed(0)} ms`);
  }
  printTable(
    `Auth + policy + audit cost per request (${N} requests per phase, ${CONNS} connections; CPU ms per request from /proc)`,
    [
      'Phase',
      'Server',
      'Round',
      'OK',
      'Req/s',
      'p50 ms',
      'p99 ms',
      'Server CPU',
      'PG CPU',
      'Indexing: server',
      'Indexing: PG',
      'Audit backlog after phase',
      'Commits/req',
      'Rows inserted/req',
    ],
    rows,
  );
}

runMain(main);
