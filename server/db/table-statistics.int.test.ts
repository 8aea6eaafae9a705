import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { createScratchDatabase } from '../../test/database.ts';
import { migrate } from './migrate.ts';
import { TableStatistics } from './table-statistics.ts';

let db: { url: string; drop: () => Promise<void> };
let pool: pg.Pool;

beforeAll(async () => {
  db = await createScratchDatabase(inject('adminDatabaseUrl'));
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** The planner's row estimate of the resource table: -1 until it is first analysed. */
async function estimate(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>("SELECT reltuples::int AS n FROM pg_class WHERE oid = 'resource'::regclass");
  return rows[0].n;
}

async function insertResources(n: number, offset: number): Promise<void> {
  await pool.query(
    `INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
     SELECT 'Basic', 'b' || g, gen_random_uuid(), now(), false, '{}' FROM generate_series($1::int, $2::int) g`,
    [offset, offset + n - 1],
  );
}

test('statistics are refreshed each time the written resources double, not on every write', async () => {
  const stats = new TableStatistics(pool, pino({ level: 'silent' }), { minGrowth: 100 });
  await stats.load();
  expect(await estimate()).toBe(-1);

  // Below the first threshold: nothing.
  await insertResources(99, 0);
  stats.noteWrites(99);
  await stats.settled();
  expect(await estimate()).toBe(-1);

  // The 100th write refreshes: the planner now knows the rows.
  await insertResources(1, 99);
  stats.noteWrites();
  await stats.settled();
  expect(await estimate()).toBe(100);

  // The next refresh waits until as many resources again were written.
  await insertResources(99, 100);
  stats.noteWrites(99);
  await stats.settled();
  expect(await estimate()).toBe(100);
  await insertResources(1, 199);
  stats.noteWrites();
  await stats.settled();
  expect(await estimate()).toBe(200);
  await stats.close();
});
