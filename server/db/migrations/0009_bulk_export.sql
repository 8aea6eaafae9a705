-- Up Migration

-- FHIR Bulk Data $export jobs (server/fhir/export/): the request as parsed at kick-off, the
-- caller's compiled AccessPolicy (the job runs as the caller), and who works on it. An instance
-- whose heartbeat is older than a minute is taken to have died; another instance (or the same one
-- after a restart) claims the job and starts it again, up to three attempts, then marks it failed.
CREATE TABLE bulk_export_job (
  id uuid PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('accepted', 'running', 'completed', 'failed')),
  request_url text NOT NULL,
  request jsonb NOT NULL,
  policy jsonb NOT NULL,
  membership_id text NOT NULL,
  transaction_time timestamptz NOT NULL,
  progress text,
  instance text,
  heartbeat_at timestamptz,
  attempts int NOT NULL DEFAULT 0,
  errors jsonb NOT NULL DEFAULT '[]',
  failure text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz
);
CREATE INDEX bulk_export_job_pending_idx ON bulk_export_job (created_at) WHERE status IN ('accepted', 'running');

-- The NDJSON output, one row per file (a file holds one resource type).
CREATE TABLE bulk_export_file (
  job_id uuid NOT NULL REFERENCES bulk_export_job (id) ON DELETE CASCADE,
  file_no int NOT NULL,
  resource_type text NOT NULL,
  count int NOT NULL,
  data text NOT NULL,
  PRIMARY KEY (job_id, file_no)
);

-- Down Migration
DROP TABLE bulk_export_file;
DROP TABLE bulk_export_job;
