-- Up Migration

-- Medplum's UserSecurityRequest (invite / password reset links), kept as a table beside
-- user_credential rather than a FHIR resource: the secret must never be readable through any FHIR
-- API path. Only the SHA-256 of the secret is stored (secrets are 128-bit random values).
CREATE TABLE user_security_request (
  id uuid PRIMARY KEY,
  user_id text NOT NULL,
  type text NOT NULL CHECK (type IN ('invite', 'reset')),
  secret_sha256 text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_security_request_user_idx ON user_security_request (user_id) WHERE used_at IS NULL;

-- Down Migration
DROP TABLE user_security_request;
