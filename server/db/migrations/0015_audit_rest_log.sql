-- Up Migration

-- The request path's audit record of a FHIR REST interaction, in its compact form: the facts the
-- AuditEvent is made of (who, what, when, from where, outcome) as a short JSON array, about a
-- tenth of the event's JSON. The event itself is built from them when it is indexed
-- (server/audit/audit-log.ts), off the request path. A table of its own rather than a new form
-- of audit_log rows, so an instance of the previous release, which indexes audit_log, never
-- meets a row it cannot read.
CREATE TABLE audit_rest_log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  record text NOT NULL
);

-- Down Migration
DROP TABLE audit_rest_log;
