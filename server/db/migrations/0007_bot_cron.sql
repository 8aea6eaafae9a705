-- Up Migration

-- Runs of cron bots (server/bots/cron.ts): every instance plans every tick of every scheduled Bot,
-- and the one whose INSERT of (bot, tick) succeeds runs it, so a tick runs once across instances.
CREATE TABLE bot_cron_run (
  bot_id text NOT NULL,
  tick timestamptz NOT NULL,
  owner text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (bot_id, tick)
);
CREATE INDEX bot_cron_run_claimed_idx ON bot_cron_run (claimed_at);

-- Websocket Subscriptions bound to a client, per instance (server/subscriptions/websocket.ts):
-- only those are matched. Refreshed by the instance's heartbeat; an expired row (its instance
-- died) is removed by any instance. Bind and unbind bump subscription_state.generation.
CREATE TABLE subscription_ws_binding (
  subscription_id text NOT NULL,
  owner text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (subscription_id, owner)
);

-- Down Migration
DROP TABLE subscription_ws_binding;
DROP TABLE bot_cron_run;
