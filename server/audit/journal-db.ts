import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type AuditJournal, orphanSegments, readSegment, recordLine } from './journal.ts';
import { recordBatch } from './record-batch.ts';

// The audit journal's database side (the file side is journal.ts): where a database's journal
// lives, recovering what a stopped process left, and deleting segments that are committed.

const RECOVERY_BATCH = 500;

/**
 * The database's own id (audit_journal_home, migration 0017): the same for every instance of one
 * deployment whatever host name it reaches the database by, and different for another database.
 */
export async function databaseHomeId(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM audit_journal_home');
  if (rows.length !== 1) {
    throw new Error('audit_journal_home must hold one row (migration 0017)');
  }
  return rows[0].id;
}

/** The folder of this database's journal under `root`: named for the database (databaseHomeId). */
export async function journalDir(pool: pg.Pool, root: string): Promise<string> {
  return join(root, await databaseHomeId(pool));
}

/**
 * Inserts the records that processes which are gone had journaled but not committed, then deletes
 * their segments. Returns how many records it inserted. Safe with other instances recovering at
 * the same moment: a segment's mark row stays locked for its whole recovery, and whoever comes
 * second finds the mark at the end (or the file gone).
 */
export async function recoverJournal(pool: pg.Pool, dir: string, logger: Logger): Promise<number> {
  let total = 0;
  for (const segment of orphanSegments(dir)) {
    total += await recoverSegment(pool, dir, segment, logger);
  }
  return total;
}

async function recoverSegment(pool: pg.Pool, dir: string, segment: string, logger: Logger): Promise<number> {
  const path = join(dir, segment);
  const client = await pool.connect();
  let recovered: number;
  try {
    await client.query('BEGIN');
    // The audit pool commits asynchronously; this commit must be on disk before the file goes.
    await client.query('SET LOCAL synchronous_commit = on');
    await client.query('INSERT INTO audit_journal_mark (segment, position) VALUES ($1, 0) ON CONFLICT (segment) DO NOTHING', [segment]);
    const { rows } = await client.query<{ position: string }>('SELECT position FROM audit_journal_mark WHERE segment = $1 FOR UPDATE', [
      segment,
    ]);
    if (rows.length === 0) {
      // Another instance recovered it while this one waited, and deleted its mark after the file.
      await client.query('ROLLBACK');
      return 0;
    }
    let found: ReturnType<typeof readSegment>;
    try {
      found = readSegment(path, Number(rows[0].position));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Another instance recovered it while this one waited for the lock.
      await client.query('ROLLBACK');
      return 0;
    }
    for (let i = 0; i < found.records.length; i += RECOVERY_BATCH) {
      const slice = found.records.slice(i, i + RECOVERY_BATCH);
      await recordBatch(client, slice.map((r) => recordLine(r.rest, r.content)).join(''), slice.length);
    }
    await client.query('UPDATE audit_journal_mark SET position = $2 WHERE segment = $1', [segment, found.end]);
    await client.query('COMMIT');
    recovered = found.records.length;
    if (found.damaged > 0) {
      logger.error({ segment, lines: found.damaged }, 'audit journal: damaged lines left out of the recovery');
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  rmSync(path, { force: true });
  await pool.query('DELETE FROM audit_journal_mark WHERE segment = $1', [segment]);
  if (recovered > 0) {
    logger.warn({ segment, records: recovered }, 'audit journal: recovered records a stopped process had not committed');
  }
  return recovered;
}

/**
 * Deletes a segment of this process whose records are all committed. The batches were committed
 * asynchronously; one synchronous commit first puts them on disk (WAL is flushed in order), so
 * the file is never the only copy that goes. The mark row goes last: left behind by a crash, it
 * names a file that no longer exists, which nothing reads.
 */
export async function retireSegment(pool: pg.Pool, journal: AuditJournal, segment: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL synchronous_commit = on');
    await client.query('UPDATE audit_journal_mark SET position = position WHERE segment = $1', [segment]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  journal.remove(segment);
  await pool.query('DELETE FROM audit_journal_mark WHERE segment = $1', [segment]);
}
