// Cost of the audit trail: recording (request path) and deferred indexing, per event.
//
//   node scripts/bench/audit-index.ts       (npm run bench:audit)
//
// On a scratch database: records BENCH_AUDIT_EVENTS (default 5,000) REST AuditEvents 8 at a time
// (as 8 concurrent requests would), then indexes them all, and prints wall time and this
// CPU per event for each step, of this process and of PostgreSQL (backends of the scratch database).
import pino from 'pino';
import { AuditLog, createAuditPool } from '../../server/audit/audit-log.ts';
import { restAuditEvent } from '../../server/audit/events.ts';
import { migrate } from '../../server/db/migrate.ts';
import { loadBaseDefinitions } from '../../server/fhir/definitions.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { cpuSnapshot, setBenchDatabase } from './lib/cpu.ts';
import { ADMIN_URL, assertLocal, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { log, printTable } from './lib/table.ts';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS) || 5000;

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
  const event = (i: number) =>
    restAuditEvent({
      interaction: 'read',
      actor: { ip: '127.0.0.1', clientId: 'bench', who: { reference: 'ClientApplication/bench' } },
      status: 200,
      what: [`Patient/p${i}`],
    });
  const step = async (label: string, work: () => Promise<void>) => {
    const before = cpuSnapshot(undefined);
    await work();
    const after = cpuSnapshot(undefined);
    const perEvent = (seconds: number) => `${((seconds * 1000) / EVENTS).toFixed(3)} ms`;
    return [
      label,
      EVENTS,
      perEvent((after.at - before.at) / 1000),
      perEvent(after.self - before.self),
      perEvent((after.postgres - before.postgres) / 100),
    ];
  };
  log(`recording ${EVENTS} events, 8 in flight`);
  const rows = [
    await step('record (request path, group commit)', async () => {
      for (let i = 0; i < EVENTS; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, EVENTS - i) }, (_, j) => audit.record(event(i + j))));
      }
    }),
    await step('index (deferred, 1,000 per transaction)', () => audit.indexPending()),
  ];
  printTable('Audit trail cost per event', ['step', 'events', 'wall', 'node CPU', 'PostgreSQL CPU'], rows);
  await audit.close();
  await pool.end();
});
