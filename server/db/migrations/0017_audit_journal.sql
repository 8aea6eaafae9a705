-- Up Migration

-- The audit journal (server/audit/journal.ts): each server process appends its audit records to a
-- local file before it answers, and PostgreSQL takes them in batches. A journal lives in a folder
-- named for its database (this table's one id), so a folder shared by servers of several databases
-- (tests, benchmarks) never replays one database's records into another.
CREATE TABLE audit_journal_home (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  single boolean NOT NULL DEFAULT true UNIQUE CHECK (single)
);
INSERT INTO audit_journal_home DEFAULT VALUES ON CONFLICT DO NOTHING;

-- How far each journal segment is committed: updated in the statement that records a batch, so a
-- recovery after a crash re-inserts exactly the records that were never committed.
CREATE TABLE audit_journal_mark (
  segment text PRIMARY KEY,
  position bigint NOT NULL
);

-- Down Migration
DROP TABLE audit_journal_mark;
DROP TABLE audit_journal_home;
