import type pg from 'pg';
import type { JournalPosition } from './journal.ts';

/**
 * One row per batch (audit_record_batch, migration 0019): the database stores the batch's text as
 * it is, where a row per record cost a tuple, an index entry and their WAL for every audited
 * request. The same statement moves the journal segment's committed mark when there is one.
 */
const RECORD_SQL = `WITH batch AS (INSERT INTO audit_record_batch (records, count) SELECT $1::text, $2::int WHERE $2::int > 0)
  INSERT INTO audit_journal_mark (segment, position) SELECT $3::text, $4::bigint WHERE $3::text IS NOT NULL
  ON CONFLICT (segment) DO UPDATE SET position = GREATEST(audit_journal_mark.position, excluded.position)`;

/**
 * Inserts a batch of audit records (`lines`: `count` records as recordLine writes them) in one
 * statement. With `mark` (records from the audit journal) the same statement moves the segment's
 * committed mark, so records and mark commit together.
 */
export async function recordBatch(db: pg.Pool | pg.PoolClient, lines: string, count: number, mark?: JournalPosition): Promise<void> {
  await db.query({
    name: 'audit_record_batch',
    text: RECORD_SQL,
    values: [lines, count, mark?.segment ?? null, mark?.end ?? null],
  });
}
