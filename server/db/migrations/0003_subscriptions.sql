-- Up Migration

-- Transactional outbox: every resource write (except AuditEvents) inserts one row here in the same
-- statement as the write itself, so a committed write can never miss its subscriptions. Delivery
-- workers claim rows (FOR UPDATE SKIP LOCKED), match them against active Subscriptions, turn them
-- into subscription_delivery rows and delete them, all in one transaction.
CREATE TABLE subscription_outbox (
  seq bigserial PRIMARY KEY,
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id uuid NOT NULL,
  previous_version_id uuid,
  interaction text NOT NULL CHECK (interaction IN ('create', 'update', 'delete')),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX subscription_outbox_resource_idx ON subscription_outbox (resource_type, id, seq);

-- Bumped by every Subscription write (in the same statement), so every instance's cache of active
-- Subscriptions is reloaded before it matches any event committed after that write.
CREATE TABLE subscription_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  generation bigint NOT NULL
);
INSERT INTO subscription_state (singleton, generation) VALUES (true, 0);

-- One row per (event, matching subscription). status: pending -> delivered | dead (dead letters).
-- A worker holds a pending row by its lease (lease_owner/lease_until) while it delivers it; the
-- events of one resource for one subscription are delivered in outbox order (seq).
CREATE TABLE subscription_delivery (
  delivery_id bigserial PRIMARY KEY,
  subscription_id text NOT NULL,
  seq bigint NOT NULL,
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id uuid NOT NULL,
  previous_version_id uuid,
  interaction text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  lease_owner text,
  lease_until timestamptz,
  last_status integer,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  delivered_at timestamptz
);
CREATE INDEX subscription_delivery_due_idx ON subscription_delivery (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX subscription_delivery_order_idx ON subscription_delivery (subscription_id, resource_type, id, seq) WHERE status = 'pending';
CREATE INDEX subscription_delivery_dead_idx ON subscription_delivery (updated_at) WHERE status = 'dead';
CREATE INDEX subscription_delivery_delivered_idx ON subscription_delivery (delivered_at) WHERE status = 'delivered';

-- Down Migration
DROP TABLE subscription_delivery;
DROP TABLE subscription_state;
DROP TABLE subscription_outbox;
