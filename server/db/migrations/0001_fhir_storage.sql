-- Up Migration

-- Trigram indexes make :contains string search use an index instead of a scan.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Current version of every resource. Content is the exact JSON text we return, so reads never
-- re-serialise. A deleted resource keeps its row (deleted = true) so reads can answer 410 Gone.
CREATE TABLE resource (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id uuid NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content text,
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX resource_last_updated_idx ON resource (resource_type, last_updated) WHERE NOT deleted;

-- Every version ever written, including deletions (content NULL).
CREATE TABLE resource_history (
  version_id uuid PRIMARY KEY,
  resource_type text NOT NULL,
  id text NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content text
);
CREATE INDEX resource_history_instance_idx ON resource_history (resource_type, id, last_updated DESC);
CREATE INDEX resource_history_type_idx ON resource_history (resource_type, last_updated DESC);

-- Search index tables: one row per extracted value, keyed by the owning resource.
-- Rows exist only for live resources; deleting a resource deletes its rows.

CREATE TABLE sp_token (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  system text,
  value text
);
CREATE INDEX sp_token_value_idx ON sp_token (resource_type, code, value, system);
CREATE INDEX sp_token_id_idx ON sp_token (id);

-- value: lower-cased, accents stripped (for default/prefix and :contains); raw: as written (:exact).
CREATE TABLE sp_string (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value text NOT NULL,
  raw text NOT NULL
);
CREATE INDEX sp_string_value_idx ON sp_string (resource_type, code, value text_pattern_ops);
CREATE INDEX sp_string_trgm_idx ON sp_string USING gin (value gin_trgm_ops);
CREATE INDEX sp_string_id_idx ON sp_string (id);

-- A date is a half-open range [lo, hi): "2024-03" covers the whole month.
CREATE TABLE sp_date (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  lo timestamptz NOT NULL,
  hi timestamptz NOT NULL
);
CREATE INDEX sp_date_lo_idx ON sp_date (resource_type, code, lo);
CREATE INDEX sp_date_hi_idx ON sp_date (resource_type, code, hi);
CREATE INDEX sp_date_id_idx ON sp_date (id);

CREATE TABLE sp_number (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value numeric NOT NULL
);
CREATE INDEX sp_number_value_idx ON sp_number (resource_type, code, value);
CREATE INDEX sp_number_id_idx ON sp_number (id);

CREATE TABLE sp_quantity (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value numeric NOT NULL,
  system text,
  unit text,
  unit_code text
);
CREATE INDEX sp_quantity_value_idx ON sp_quantity (resource_type, code, value);
CREATE INDEX sp_quantity_id_idx ON sp_quantity (id);

-- target_type/target_id are set for local references ("Patient/123"); reference keeps the text.
CREATE TABLE sp_reference (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  target_type text,
  target_id text,
  reference text NOT NULL
);
CREATE INDEX sp_reference_target_idx ON sp_reference (resource_type, code, target_id);
CREATE INDEX sp_reference_reverse_idx ON sp_reference (target_id, resource_type);
CREATE INDEX sp_reference_id_idx ON sp_reference (id);

CREATE TABLE sp_uri (
  resource_type text NOT NULL,
  id text NOT NULL,
  code text NOT NULL,
  value text NOT NULL
);
CREATE INDEX sp_uri_value_idx ON sp_uri (resource_type, code, value text_pattern_ops);
CREATE INDEX sp_uri_id_idx ON sp_uri (id);

-- Which search-parameter set the index tables were built with, per resource type, so a change
-- of custom SearchParameters triggers a reindex of exactly the affected types.
CREATE TABLE search_index_state (
  resource_type text PRIMARY KEY,
  fingerprint text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Binary content, stored beside its Binary resource (which keeps only contentType/securityContext).
CREATE TABLE binary_content (
  version_id uuid PRIMARY KEY,
  id text NOT NULL,
  content_type text NOT NULL,
  data bytea NOT NULL
);
CREATE INDEX binary_content_id_idx ON binary_content (id);

-- Down Migration
DROP TABLE binary_content;
DROP TABLE search_index_state;
DROP TABLE sp_uri;
DROP TABLE sp_reference;
DROP TABLE sp_quantity;
DROP TABLE sp_number;
DROP TABLE sp_date;
DROP TABLE sp_string;
DROP TABLE sp_token;
DROP TABLE resource_history;
DROP TABLE resource;
