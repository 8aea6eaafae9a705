-- Up Migration

-- The audit trail's records as the database takes them from the request path: one row per batch
-- (every ~50 ms, up to 500 records), its records as the audit journal holds them, one per line
-- (`r` + the facts of a REST interaction, `e` + an event's JSON). A row per record cost
-- PostgreSQL a heap tuple, an index entry and their WAL for every audited request, a measurable
-- share of each read's CPU; indexing (server/audit/audit-log.ts) splits the batch instead. The
-- tables of earlier releases (audit_log, audit_rest_log) are still indexed, for rows they left.
CREATE TABLE audit_record_batch (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  records text NOT NULL,
  count integer NOT NULL
);

-- lz4 compresses a batch several times faster than the default pglz, where the server has it.
DO $$
BEGIN
  ALTER TABLE audit_record_batch ALTER COLUMN records SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END
$$;

-- Down Migration
DROP TABLE audit_record_batch;
