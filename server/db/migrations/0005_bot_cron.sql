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

-- Down Migration
DROP TABLE bot_cron_run;
