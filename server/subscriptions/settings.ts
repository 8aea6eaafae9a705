/** Tuning of the subscription workers; every value has an environment override (SUBSCRIPTION_*). */
export interface SubscriptionSettings {
  /** Run delivery workers in this instance (SUBSCRIPTION_WORKERS=false turns them off). */
  enabled: boolean;
  /** Fallback poll for due retries and missed notifications. */
  pollIntervalMs: number;
  /** First retry delay; attempt n waits backoffBaseMs * 2^(n-1), capped at backoffMaxMs. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a worker owns a claimed delivery; must exceed deliveryTimeoutMs. */
  leaseMs: number;
  /** Timeout of one rest-hook POST. */
  deliveryTimeoutMs: number;
  /** Outbox rows claimed per dispatch transaction. */
  batchSize: number;
  /** Deliveries in flight per instance. */
  concurrency: number;
  /**
   * Further deliveries in flight that only urgent subscriptions (priority above routine) may use:
   * with every slot taken by routine work (bot runs waiting for a worker), an alarm's delivery is
   * still claimed at once, and its bot run then goes ahead of the routine ones in the worker pool.
   */
  urgentReserve: number;
  /** Delivered rows are deleted this long after delivery (SUBSCRIPTION_RETAIN_DELIVERED_HOURS); dead letters stay. */
  retainDeliveredMs: number;
  /** How often an instance prunes delivered rows. */
  pruneIntervalMs: number;
  /** Run cron bots (Bot.cronString / cronTiming) in this instance (BOT_CRON=false turns it off). */
  cron: boolean;
}

export const DEFAULT_SUBSCRIPTION_SETTINGS: SubscriptionSettings = {
  enabled: true,
  pollIntervalMs: 1_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  leaseMs: 60_000,
  deliveryTimeoutMs: 30_000,
  batchSize: 200,
  concurrency: 64,
  urgentReserve: 8,
  retainDeliveredMs: 24 * 3600_000,
  pruneIntervalMs: 60_000,
  cron: true,
};

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export function subscriptionSettings(
  overrides: Partial<SubscriptionSettings> = {},
  env: NodeJS.ProcessEnv = process.env,
): SubscriptionSettings {
  const d = DEFAULT_SUBSCRIPTION_SETTINGS;
  const fromEnv: SubscriptionSettings = {
    enabled: env.SUBSCRIPTION_WORKERS ? env.SUBSCRIPTION_WORKERS !== 'false' && env.SUBSCRIPTION_WORKERS !== '0' : d.enabled,
    pollIntervalMs: envInt(env, 'SUBSCRIPTION_POLL_MS') ?? d.pollIntervalMs,
    backoffBaseMs: envInt(env, 'SUBSCRIPTION_BACKOFF_MS') ?? d.backoffBaseMs,
    backoffMaxMs: envInt(env, 'SUBSCRIPTION_BACKOFF_MAX_MS') ?? d.backoffMaxMs,
    leaseMs: envInt(env, 'SUBSCRIPTION_LEASE_MS') ?? d.leaseMs,
    deliveryTimeoutMs: envInt(env, 'SUBSCRIPTION_TIMEOUT_MS') ?? d.deliveryTimeoutMs,
    batchSize: envInt(env, 'SUBSCRIPTION_BATCH') ?? d.batchSize,
    concurrency: envInt(env, 'SUBSCRIPTION_CONCURRENCY') ?? d.concurrency,
    urgentReserve: envInt(env, 'SUBSCRIPTION_URGENT_RESERVE') ?? d.urgentReserve,
    retainDeliveredMs: (() => {
      const hours = envInt(env, 'SUBSCRIPTION_RETAIN_DELIVERED_HOURS');
      return hours === undefined ? d.retainDeliveredMs : hours * 3600_000;
    })(),
    pruneIntervalMs: envInt(env, 'SUBSCRIPTION_PRUNE_MS') ?? d.pruneIntervalMs,
    cron: env.BOT_CRON ? env.BOT_CRON !== 'false' && env.BOT_CRON !== '0' : d.cron,
  };
  const s = { ...fromEnv, ...overrides };
  if (s.leaseMs <= s.deliveryTimeoutMs) s.leaseMs = s.deliveryTimeoutMs + 5_000;
  return s;
}

/** Delay before the retry that follows failed attempt `attempt` (1-based), with ±10% jitter. */
export function backoffMs(settings: SubscriptionSettings, attempt: number): number {
  const raw = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.9 + Math.random() * 0.2));
}
