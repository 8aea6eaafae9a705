-- Up Migration

-- Secrets live here, never in FHIR resources, so no FHIR API path (read, search, history,
-- _include, GraphQL, Bundles) can ever return them.

-- Token signing keys (RS256). The newest active key signs; all active keys verify.
CREATE TABLE signing_key (
  kid text PRIMARY KEY,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Password hashes (argon2id) of User resources.
CREATE TABLE user_credential (
  user_id text PRIMARY KEY,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Client secrets of ClientApplication resources (SHA-256: secrets are 256-bit random values).
CREATE TABLE client_credential (
  client_id text PRIMARY KEY,
  secret_sha256 text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per sign-in (Medplum's Login): authorization code + PKCE, refresh-token rotation, revocation.
CREATE TABLE auth_login (
  id uuid PRIMARY KEY,
  membership_id text NOT NULL,
  client_id text,
  auth_method text NOT NULL,
  scope text NOT NULL DEFAULT 'openid',
  nonce text,
  code_sha256 text UNIQUE,
  code_challenge text,
  code_challenge_method text,
  code_expires_at timestamptz,
  granted boolean NOT NULL DEFAULT false,
  refresh_secret_sha256 text,
  revoked boolean NOT NULL DEFAULT false,
  remote_address text,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_login_membership_idx ON auth_login (membership_id);

-- Server-wide facts set once (e.g. that first-start bootstrap happened).
CREATE TABLE server_state (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE server_state;
DROP TABLE auth_login;
DROP TABLE client_credential;
DROP TABLE user_credential;
DROP TABLE signing_key;
