import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { auditRowsMentioning, recordedMentioning } from '../../test/database.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { AuditLog, createAuditPool } from './audit-log.ts';
import { restAuditEvent } from './events.ts';
import { AuditJournal, readSegment } from './journal.ts';

let t: TestServer;
let pool: pg.Pool;

beforeAll(async () => {
  t = await startTestServer();
  pool = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
});

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await pool.end();
  await t.close();
});

function eventFor(marker: string): AuditEvent {
  return restAuditEvent({ interaction: 'read', actor: { ip: '10.0.0.1', clientId: marker }, status: 200, what: [`Patient/${marker}`] });
}

function countMentioning(marker: string): Promise<number> {
  return auditRowsMentioning(pool, marker);
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'es-audit-log-test-'));
  dirs.push(dir);
  return dir;
}

async function searchByEntity(marker: string): Promise<AuditEvent[]> {
  return t.medplum.searchResources('AuditEvent', { entity: `Patient/${marker}`, _count: '100' }, { cache: 'no-cache' });
}

describe('audit log', () => {
  test('events recorded by a process that stopped before indexing them are searchable, each exactly once', async () => {
    // A second AuditLog on its own pool, with background indexing off, stands for an instance
    // that committed events and died: its records sit in audit_record_batch, unindexed.
    const otherPool = createAuditPool(t.databaseUrl);
    const other = new AuditLog(otherPool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
    const marker = randomUUID();
    await Promise.all([other.record(eventFor(marker)), other.record(eventFor(marker)), other.record(eventFor(marker))]);
    await otherPool.end();
    expect(await recordedMentioning(pool, marker, 'e')).toBe(3);

    // Two readers at once: both see all three events, and indexing never doubles one.
    const [a, b] = await Promise.all([searchByEntity(marker), searchByEntity(marker)]);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(new Set(a.map((e) => e.id)).size).toBe(3);
    const read = await t.medplum.readResource('AuditEvent', a[0].id as string);
    expect(read.agent?.[0]?.altId).toBe(marker);
    expect(await recordedMentioning(pool, marker)).toBe(0);
  });

  test('REST facts (recordRest) of a stopped process become the AuditEvents restAuditEvent builds, each exactly once', async () => {
    const otherPool = createAuditPool(t.databaseUrl);
    const other = new AuditLog(otherPool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
    const marker = randomUUID();
    const recorded = '2026-12-03T01:02:03.456Z';
    const facts = {
      interaction: 'search-type' as const,
      // A lone surrogate, as a query string can carry one: stored as sent, indexed all the same.
      actor: { ip: '10.0.0.9', clientId: marker, who: { reference: `ClientApplication/${marker}` } },
      status: 200,
      what: [`Patient/${marker}`],
      query: `Patient?name=${JSON.parse('"\\ud800"')}x`,
      recorded,
    };
    await Promise.all([other.recordRest(facts), other.recordRest(facts)]);
    await otherPool.end();
    expect(await recordedMentioning(pool, marker, 'r')).toBe(2);

    const [a, b] = await Promise.all([searchByEntity(marker), searchByEntity(marker)]);
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(2);
    const expected = restAuditEvent(facts);
    for (const event of a) {
      const { id, meta, ...rest } = event;
      expect(rest).toEqual(expected);
      expect(meta?.lastUpdated).toBe(recorded);
    }
    const byAgent = await t.medplum.searchResources(
      'AuditEvent',
      { agent: `ClientApplication/${marker}`, date: recorded },
      { cache: 'no-cache' },
    );
    expect(byAgent).toHaveLength(2);
    expect(await recordedMentioning(pool, marker)).toBe(0);
  });

  test('a search right after a request finds the AuditEvent of that request', async () => {
    const marker = randomUUID();
    await t.medplum.readResource('Patient', marker).catch(() => undefined);
    const events = await searchByEntity(marker);
    expect(events).toHaveLength(1);
    expect(events[0].outcome).toBe('4');
  });

  test('idle servers index pending events in the background', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 20 });
    const marker = randomUUID();
    await log.record(eventFor(marker));
    await expect.poll(() => recordedMentioning(pool, marker), { timeout: 10_000, interval: 50 }).toBe(0);
    await log.close();
    await auditPool.end();
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM resource WHERE resource_type = 'AuditEvent' AND content LIKE '%' || $1 || '%'",
      [marker],
    );
    expect(rows[0].n).toBe(1);
  });

  test('a closed log refuses new events and leaves none half-written', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0 });
    const marker = randomUUID();
    const recorded = log.record(eventFor(marker));
    await log.close();
    await recorded;
    await expect(log.record(eventFor(marker))).rejects.toThrow('closed');
    await auditPool.end();
    expect(await searchByEntity(marker)).toHaveLength(1);
  });

  test('journaled records are answered at once, all written by a clean shutdown, none twice, and their files deleted', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    // A flush interval far longer than the test: only close() can write these records.
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, flushMs: 60_000 });
    const dir = tempDir();
    await log.setJournal(new AuditJournal(dir));
    const marker = randomUUID();
    await Promise.all(Array.from({ length: 25 }, () => log.record(eventFor(marker))));
    expect(await countMentioning(marker)).toBe(0);
    const [segment] = readdirSync(dir);
    expect(readSegment(join(dir, segment), 0).records).toHaveLength(25);
    await log.close();
    await auditPool.end();
    expect(await countMentioning(marker)).toBe(25);
    expect(await searchByEntity(marker)).toHaveLength(25);
    expect(readdirSync(dir)).toEqual([]);
    const { rows } = await pool.query('SELECT 1 FROM audit_journal_mark WHERE segment = $1', [segment]);
    expect(rows).toEqual([]);
  });

  test('the records of one turn of the event loop are journaled with one write and stored as one batch row', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, flushMs: 60_000 });
    const dir = tempDir();
    const journal = new AuditJournal(dir);
    await log.setJournal(journal);
    const writes = vi.spyOn(journal, 'appendLines');
    const marker = randomUUID();
    const first = Array.from({ length: 3 }, () => log.record(eventFor(marker)));
    // Not answered before its turn ends: nothing is journaled yet.
    expect(writes).not.toHaveBeenCalled();
    await Promise.all(first);
    expect(writes).toHaveBeenCalledTimes(1);
    await log.record(eventFor(marker));
    expect(writes).toHaveBeenCalledTimes(2);
    const [segment] = readdirSync(dir);
    expect(readSegment(join(dir, segment), 0).records).toHaveLength(4);
    await log.close();
    await auditPool.end();
    // Both turns' records went to the database in one statement, as one row.
    const { rows } = await pool.query<{ count: number }>("SELECT count FROM audit_record_batch WHERE records LIKE '%' || $1 || '%'", [
      marker,
    ]);
    expect(rows).toEqual([{ count: 4 }]);
    expect(await recordedMentioning(pool, marker, 'e')).toBe(4);
  });

  test('what a stopped process journaled but did not commit is inserted exactly once, by one of three instances starting together', async () => {
    const dir = tempDir();
    const marker = randomUUID();
    // A segment of a process of another boot: its first record was committed (with its mark), the
    // next two were not, and the last line was cut short by the crash.
    const segment = `${'0'.repeat(12)}-999999999-1-abcdef.0.jnl`;
    const facts = (i: number) =>
      JSON.stringify({
        interaction: 'read',
        actor: { ip: '10.0.0.3' },
        status: 200,
        what: [`Patient/${marker}`],
        recorded: `2026-12-03T00:00:0${i}.000Z`,
      });
    const first = `r${facts(1)}\n`;
    writeFileSync(join(dir, segment), `${first}r${facts(2)}\nr${facts(3)}\nr{"interaction":`);
    await pool.query('INSERT INTO audit_record_batch (records, count) VALUES ($1, 1)', [first]);
    await pool.query('INSERT INTO audit_journal_mark (segment, position) VALUES ($1, $2)', [segment, Buffer.byteLength(first)]);

    const pools = [1, 2, 3].map(() => createAuditPool(t.databaseUrl));
    const logs = pools.map((p) => new AuditLog(p, pino({ level: 'silent' }), { indexIntervalMs: 0 }));
    await Promise.all(logs.map((log) => log.setJournal(new AuditJournal(dir))));
    const events = await searchByEntity(marker);
    expect(events.map((e) => e.recorded).sort()).toEqual([
      '2026-12-03T00:00:01.000Z',
      '2026-12-03T00:00:02.000Z',
      '2026-12-03T00:00:03.000Z',
    ]);
    expect(readdirSync(dir)).not.toContain(segment);
    const { rows } = await pool.query('SELECT 1 FROM audit_journal_mark WHERE segment = $1', [segment]);
    expect(rows).toEqual([]);
    for (const log of logs) await log.close();
    await Promise.all(pools.map((p) => p.end()));
  });

  test('a journal that cannot be written falls back to waiting for the commit', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, flushMs: 60_000 });
    const dir = tempDir();
    const journal = new AuditJournal(dir);
    await log.setJournal(journal);
    journal.close(); // its file descriptor is gone: appends throw
    const marker = randomUUID();
    await log.record(eventFor(marker));
    // Resolved only after the commit, although batches of journaled records would wait a minute.
    expect(await countMentioning(marker)).toBe(1);
    await log.close();
    await auditPool.end();
    // Its (empty) segment is deleted all the same.
    expect(readdirSync(dir)).toEqual([]);
  });

  describe('group commit', () => {
    /** An audit pool that counts the statements recording events; `hold` keeps the next one waiting until released. */
    function countingPool(): { pool: pg.Pool; end: () => Promise<void>; statements: () => number; hold: () => () => void } {
      const real = createAuditPool(t.databaseUrl);
      let n = 0;
      let held: Promise<void> | undefined;
      const counting = Object.create(real) as pg.Pool;
      counting.query = (async (config: unknown, ...rest: unknown[]) => {
        if (JSON.stringify(config).includes('INSERT INTO audit_record_batch')) {
          n++;
          const wait = held;
          held = undefined;
          await wait;
        }
        return (real.query as (...a: unknown[]) => unknown)(config, ...rest);
      }) as pg.Pool['query'];
      const hold = () => {
        const { promise, resolve } = Promise.withResolvers<void>();
        held = promise;
        return resolve;
      };
      return { pool: counting, end: () => real.end(), statements: () => n, hold };
    }
    const turn = () => new Promise((r) => setImmediate(r));

    test('concurrent requests share one statement: a batch waits for the events of requests under way', async () => {
      const { pool: auditPool, end, statements } = countingPool();
      // A wait far longer than the test: only the last expected event can release the batch.
      const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, commitDelayMs: 60_000 });
      const marker = randomUUID();
      for (let i = 0; i < 3; i++) log.expectEvent();
      const first = log.record(eventFor(marker));
      log.eventSettled();
      const second = log.record(eventFor(marker));
      log.eventSettled();
      await turn();
      expect(statements()).toBe(0);
      const third = log.record(eventFor(marker));
      log.eventSettled();
      await Promise.all([first, second, third]);
      expect(statements()).toBe(1);
      await log.close();
      await end();
      expect(await searchByEntity(marker)).toHaveLength(3);
    });

    test('journaled records that arrive while a batch is inserted go out with the next tick, not as soon as it returns', async () => {
      const { pool: auditPool, end, statements, hold } = countingPool();
      const flushMs = 400;
      const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, flushMs });
      await log.setJournal(new AuditJournal(tempDir()));
      const marker = randomUUID();
      const release = hold();
      await log.record(eventFor(marker));
      await vi.waitFor(() => expect(statements()).toBe(1), { timeout: 5 * flushMs });
      // Two turns' records while the first batch is still being inserted.
      await log.record(eventFor(marker));
      await log.record(eventFor(marker));
      release();
      await vi.waitFor(async () => expect(await countMentioning(marker)).toBe(1));
      const committed = performance.now();
      await new Promise((r) => setTimeout(r, flushMs / 4));
      // Inserted at once, batches held what arrived during one insert: a dozen records at 3,000 audited reads/s.
      expect(statements()).toBe(1);
      await vi.waitFor(() => expect(statements()).toBe(2), { timeout: 5 * flushMs });
      expect(performance.now() - committed).toBeGreaterThanOrEqual(flushMs / 2);
      await vi.waitFor(async () => expect(await countMentioning(marker)).toBe(3));
      await log.close();
      await end();
    });

    test('with no other request under way an event is written at once', async () => {
      const { pool: auditPool, end, statements } = countingPool();
      const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, commitDelayMs: 60_000 });
      log.expectEvent();
      const recorded = log.record(eventFor(randomUUID()));
      log.eventSettled();
      await recorded;
      expect(statements()).toBe(1);
      await log.close();
      await end();
    });

    test('a request that ends without an event (aborted) releases the batch; one that never ends holds it only commitDelayMs', async () => {
      const { pool: auditPool, end, statements } = countingPool();
      const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, commitDelayMs: 60_000 });
      log.expectEvent();
      log.expectEvent();
      const recorded = log.record(eventFor(randomUUID()));
      log.eventSettled();
      await turn();
      expect(statements()).toBe(0);
      log.eventSettled(); // the aborted request
      await recorded;
      expect(statements()).toBe(1);
      await log.close();
      await end();

      const short = countingPool();
      const bounded = new AuditLog(short.pool, pino({ level: 'silent' }), { indexIntervalMs: 0, commitDelayMs: 20 });
      bounded.expectEvent(); // never settles
      await bounded.record(eventFor(randomUUID()));
      expect(short.statements()).toBe(1);
      await bounded.close();
      await short.end();
    });
  });

  test('a reader of AuditEvents sees the journaled records of this instance', async () => {
    const auditPool = createAuditPool(t.databaseUrl);
    const log = new AuditLog(auditPool, pino({ level: 'silent' }), { indexIntervalMs: 0, flushMs: 60_000 });
    await log.setJournal(new AuditJournal(tempDir()));
    const marker = randomUUID();
    await log.record(eventFor(marker));
    await log.indexPending();
    expect(await searchByEntity(marker)).toHaveLength(1);
    await log.close();
    await auditPool.end();
  });

  test('reads and searches through the API are audited and visible to the next AuditEvent search', async () => {
    const patient = await t.medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Buffered' }] });
    await t.medplum.readResource('Patient', patient.id as string, { cache: 'no-cache' });
    await t.medplum.readResource('Patient', patient.id as string, { cache: 'no-cache' });
    const events = await searchByEntity(patient.id as string);
    // The create and both reads.
    expect(events.map((e) => e.action).sort()).toEqual(['C', 'R', 'R']);
  });
});
