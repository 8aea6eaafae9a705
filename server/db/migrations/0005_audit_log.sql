-- Up Migration

-- The audit trail's write path. Every request commits one narrow row here before it is answered
-- (group commit, one INSERT per batch); the full AuditEvent (resource, history and ~14 search
-- index rows) is built from these rows later, in large batches, when the server is idle or when
-- someone reads AuditEvents (server/audit/audit-log.ts). A row is deleted in the same transaction
-- that indexes its event, so each event is indexed exactly once and none is lost on a crash.
CREATE TABLE audit_log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  content text NOT NULL
);

-- Down Migration
DROP TABLE audit_log;
