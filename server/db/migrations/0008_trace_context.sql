-- Up Migration

-- The W3C traceparent of the request that wrote a resource version (only when tracing is on),
-- written in the same statement as the write. A subscription delivery of that version continues
-- the trace. Rows older than a day are pruned by the server.
CREATE TABLE trace_context (
  version_id uuid PRIMARY KEY,
  traceparent text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trace_context_created_idx ON trace_context (created_at);

-- Down Migration
DROP TABLE trace_context;
