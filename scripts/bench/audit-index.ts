// Cost of the audit trail: recording (request path) and deferred indexing, per event.
//
//   node scripts/bench/audit-index.ts       (npm run bench:audit)
//
// On a scratch database: records BENCH_AUDIT_EVENTS (default 5,000) REST AuditEvents (their facts) 8 at a time
// (as 8 concurrent requests would, without an audit journal: each waits for its commit), then
// indexes them all; then records as many through an audit journal (the server's default), arriving
// at BENCH_AUDIT_RATE per second (default 2,000, the quiet-machine read rate), and indexes those. Prints wall time, CPU per event of this process and of PostgreSQL
// (backends of the scratch database), and commits per event (pg_stat_database).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { AuditLog, createAuditPool } from '../../server/audit/audit-log.ts';
import type { RestAuditFacts } from '../../server/audit/events.ts';
import { AuditJournal } from '../../server/audit/journal.ts';
import { migrate } from '../../server/db/migrate.ts';
import { loadBaseDefinitions } from '../../server/fhir/definitions.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { cpuSnapshot, postgresTicksBetween, setBenchDatabase } from './lib/cpu.ts';
import { ADMIN_URL, assertLocal, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { log, printTable } from './lib/table.ts';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS) || 5000;
const RATE = Number(process.env.BENCH_AUDIT_RATE) || 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

runMain(async () => {
  assertLocal(ADMIN_URL);
  const name = scratchName('es_bench_audit');
  const url = await createDatabase(ADMIN_URL, name);
  onCleanup('drop scratch database', () => dropDatabase(ADMIN_URL, name));
  setBenchDatabase(name);
  await migrate(url);
  loadBaseDefinitions();
  const pool = createAuditPool(url);
  const audit = new AuditLog(pool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
  const journalDir = mkdtempSync(join(tmpdir(), 'es-bench-audit-journal-'));
  onCleanup('remove journal folder', () => rmSync(journalDir, { recursive: true, force: true }));
  const journaled = new AuditLog(pool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
  await journaled.setJournal(new AuditJournal(journalDir));
  // As the server records a REST request's event: its facts (recordRest), built into the AuditEvent when indexed.
  const facts = (i: number): RestAuditFacts => ({
    interaction: 'read',
    actor: { ip: '127.0.0.1', clientId: 'bench', who: { reference: 'ClientApplication/bench' } },
    status: 200,
    what: [`Patient/p${i}`],
  });
  // pg_stat_database is updated when a backend reports (at most once a second): wait before reading.
  const commits = async () => {
    await sleep(1100);
    const { rows } = await pool.query<{ n: string }>('SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1', [name]);
    return Number(rows[0].n);
  };
  const step = async (label: string, work: () => Promise<void>) => {
    const c0 = await commits();
    const before = cpuSnapshot(undefined);
    await work();
    const after = cpuSnapshot(undefined);
    // The two statistics queries are commits too.
    const c1 = (await commits()) - 1;
    const perEvent = (seconds: number) => `${((seconds * 1000) / EVENTS).toFixed(3)} ms`;
    return [
      label,
      EVENTS,
      perEvent((after.at - before.at) / 1000),
      perEvent(after.self - before.self),
      perEvent(postgresTicksBetween(before, after) / 100),
      ((c1 - c0) / EVENTS).toFixed(3),
    ];
  };
  log(`recording ${EVENTS} events, 8 in flight`);
  const rows = [
    await step('record (request path, group commit)', async () => {
      for (let i = 0; i < EVENTS; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, EVENTS - i) }, (_, j) => audit.recordRest(facts(i + j))));
      }
    }),
    await step('index (deferred, 1,000 per transaction)', () => audit.indexPending()),
    await step(`record journaled (the server's default), ${RATE}/s`, async () => {
      const started = performance.now();
      for (let i = 0; i < EVENTS; i++) {
        // Paced as requests would arrive: event i is due at i / RATE seconds.
        const due = started + (i * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        void journaled.recordRest(facts(i));
      }
      // Writes the last batch and deletes the journal's file.
      await journaled.close();
    }),
    await step('index (deferred, 1,000 per transaction)', () => audit.indexPending()),
  ];
  printTable('Audit trail cost per event', ['step', 'events', 'wall', 'node CPU', 'PostgreSQL CPU', 'commits'], rows);
  await audit.close();
  await pool.end();
});
