-- Up Migration

-- The bridge's message store. It lives in its own schema (and its own migrations table, see
-- migrate.ts) so the bridge can share the server's database without touching the server's tables.
CREATE SCHEMA IF NOT EXISTS hl7;

-- Every inbound message, exactly as received, with the ACK that was sent for it. A row is
-- committed before its ACK leaves (commit-accept), so an ACKed message is never lost.
CREATE TABLE hl7.message (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  remote text,
  -- The decoded text (MSH-18 charset), what the converter reads.
  body text NOT NULL,
  -- The bytes as they arrived (without the MLLP frame), when they are not simply `body` encoded in
  -- `charset` (a BOM, invalid UTF-8, a NUL): NULL otherwise, so the common case is stored once.
  raw bytea,
  charset text,
  sending_application text NOT NULL DEFAULT '',
  sending_facility text NOT NULL DEFAULT '',
  control_id text NOT NULL DEFAULT '',
  message_type text NOT NULL DEFAULT '',
  version text,
  -- MSH-7 as sent.
  message_time text,
  -- PID-3 values, each as "value" and "authority|value", for search.
  patient_ids text[] NOT NULL DEFAULT '{}',
  -- Messages of one lane (a patient) are converted in arrival order.
  lane text NOT NULL,
  -- AA/CA at receipt: the message is converted. AE/AR: it is only logged.
  accepted boolean NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'converted', 'error', 'rejected')),
  ack_code text NOT NULL,
  -- MSH-10 of the ACK we sent (unique), and its bytes (sent again to a resend).
  ack_control_id text NOT NULL,
  ack bytea NOT NULL,
  -- The application-level outcome from the converter (AA / AE) and its ERR details.
  result_code text,
  error text,
  error_detail jsonb,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  lease_until timestamptz,
  converted_at timestamptz,
  resends integer NOT NULL DEFAULT 0,
  last_resend_at timestamptz
) WITH (fillfactor = 80);
-- fillfactor: room on each page, so the workers' lease updates (no indexed column changes) are
-- HOT updates that touch no index.

-- Duplicate control: a resend (same MSH-10 from the same application and facility) of an
-- accepted message gets the original ACK instead of a second conversion.
CREATE UNIQUE INDEX message_dedupe_idx ON hl7.message (sending_application, sending_facility, control_id) WHERE accepted;
-- The conversion queue: pending messages in arrival order, and per lane.
CREATE INDEX message_pending_idx ON hl7.message (id) WHERE status = 'pending';
CREATE INDEX message_pending_lane_idx ON hl7.message (lane, id) WHERE status = 'pending';
-- The message log's searches (newest first, by id). Every index costs each insert, so: a BRIN for
-- the receipt time (rows arrive in time order), the error queue as a small partial index.
CREATE INDEX message_received_idx ON hl7.message USING brin (received_at);
CREATE INDEX message_type_idx ON hl7.message (message_type, id);
CREATE INDEX message_failed_idx ON hl7.message (id) WHERE status IN ('error', 'rejected');
CREATE INDEX message_patient_idx ON hl7.message USING gin (patient_ids);
CREATE INDEX message_control_idx ON hl7.message (control_id);

-- Outbound messages (FHIR changes turned into HL7 by the hl7-outbound bot), one row per
-- destination. Sent in order per lane (patient); retried with backoff; dead after N attempts.
CREATE TABLE hl7.outbound (
  id bigserial PRIMARY KEY,
  destination text NOT NULL,
  -- Idempotency: one message per triggering resource version and event, per destination.
  dedupe_key text NOT NULL,
  lane text NOT NULL,
  message_type text NOT NULL,
  control_id text NOT NULL,
  body text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  lease_until timestamptz,
  last_error text,
  ack_code text,
  ack text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  sent_at timestamptz,
  UNIQUE (destination, dedupe_key)
);
CREATE INDEX outbound_pending_idx ON hl7.outbound (destination, lane, id) WHERE status = 'pending';
CREATE INDEX outbound_status_idx ON hl7.outbound (status, created_at);
