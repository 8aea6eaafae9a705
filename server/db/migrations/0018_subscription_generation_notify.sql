-- Up Migration

-- Every change of the active Subscriptions (a Subscription written, a websocket client bound or
-- gone) bumps subscription_state.generation. Each instance's subscription engine caches the
-- Subscriptions and, besides checking the generation when it dispatches, matches websocket
-- Subscriptions at a write's commit from that cache (SubscriptionEngine.committed); this NOTIFY
-- tells it at once that the cache is out of date. The channel is the outbox's, whose listeners
-- read `Type/id` payloads as "drop what you cached about it".
CREATE FUNCTION es_subscription_generation_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('subscription_outbox', 'Subscription/*');
  RETURN NULL;
END
$$;

-- FOR EACH ROW: a statement whose generation CTE updates nothing (most writes) notifies nobody.
CREATE TRIGGER subscription_generation_notify
  AFTER UPDATE OF generation ON subscription_state
  FOR EACH ROW EXECUTE FUNCTION es_subscription_generation_notify();

-- Down Migration
DROP TRIGGER subscription_generation_notify ON subscription_state;
DROP FUNCTION es_subscription_generation_notify();
