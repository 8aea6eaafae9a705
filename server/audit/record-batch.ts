import type pg from 'pg';
import type { JournalPosition, JournalRecord } from './journal.ts';

/**
 * The batch travels as one JSON array (its elements' text kept exactly, json_array_elements does
 * not re-serialize a json value): joining the records' JSON costs nothing, where a text[] parameter
 * would escape every quote of every record in this process. Events go to audit_log, the facts of
 * REST events (AuditLog.recordRest) to audit_rest_log.
 */
const RECORD_SQL = `WITH events AS (INSERT INTO audit_log (content) SELECT value::text FROM json_array_elements($1::json)),
  facts AS (INSERT INTO audit_rest_log (record) SELECT value::text FROM json_array_elements($2::json))
  INSERT INTO audit_journal_mark (segment, position) SELECT $3::text, $4::bigint WHERE $3::text IS NOT NULL
  ON CONFLICT (segment) DO UPDATE SET position = GREATEST(audit_journal_mark.position, excluded.position)`;

/**
 * Inserts a batch of audit records in one statement. With `mark` (records from the audit journal)
 * the same statement moves the segment's committed mark, so records and mark commit together.
 */
export async function recordBatch(db: pg.Pool | pg.PoolClient, records: JournalRecord[], mark?: JournalPosition): Promise<void> {
  const events: string[] = [];
  const facts: string[] = [];
  for (const r of records) (r.rest ? facts : events).push(r.content);
  await db.query({
    name: 'audit_record',
    text: RECORD_SQL,
    values: [`[${events.join(',')}]`, `[${facts.join(',')}]`, mark?.segment ?? null, mark?.end ?? null],
  });
}
