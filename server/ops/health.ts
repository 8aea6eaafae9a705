import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type pg from 'pg';

const MIGRATIONS_DIR = fileURLToPath(new URL('../db/migrations', import.meta.url));
const CHECK_TIMEOUT_MS = 2_000;

export interface CheckResult {
  ok: boolean;
  /** How long the check took. */
  ms: number;
  detail?: unknown;
  error?: string;
}

export interface ReadinessDeps {
  pool: pg.Pool;
  redis?: Redis;
  /** Worker pool statistics of the bot runtime. */
  botStats: () => { workers: number; busy: number; queued: number };
  /** Minimum bot workers: 0 means a runtime without idle workers is still ready. */
  botMinWorkers: number;
  /** Whether this instance's subscription workers should be, and are, running. */
  subscriptions: { enabled: boolean; running: () => boolean };
  /** Set while the process is shutting down: the load balancer should stop sending traffic. */
  closing?: () => boolean;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

async function timed(check: () => Promise<Omit<CheckResult, 'ms'>>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Omit<CheckResult, 'ms'>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([check(), timeout]);
    return { ...result, ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { ok: false, ms: Math.round((performance.now() - started) * 10) / 10, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Migration files shipped with this build that the database has not applied. */
export async function pendingMigrations(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const shipped = readdirSync(dir)
    .filter((f) => /\.(sql|js|ts)$/.test(f))
    .map((f) => f.replace(/\.(sql|js|ts)$/, ''));
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM schema_migrations');
  const applied = new Set(rows.map((r) => r.name));
  return shipped.filter((name) => !applied.has(name)).sort();
}

/**
 * Readiness: may this instance take traffic? Every dependency a request needs is checked; the
 * answer names each check so an operator sees at once which one failed.
 */
export async function readiness(deps: ReadinessDeps): Promise<Readiness> {
  const [database, redis, migrations] = await Promise.all([
    timed(async () => {
      await deps.pool.query('SELECT 1');
      return { ok: true };
    }),
    deps.redis
      ? timed(async () => ({ ok: (await (deps.redis as Redis).ping()) === 'PONG' }))
      : Promise.resolve({ ok: true, ms: 0, detail: 'not configured (in-process pub/sub and rate limits)' }),
    timed(async () => {
      const pending = await pendingMigrations(deps.pool);
      return pending.length === 0 ? { ok: true } : { ok: false, detail: { pending }, error: `${pending.length} migration(s) not applied` };
    }),
  ]);
  const stats = deps.botStats();
  const bots: CheckResult = {
    ok: stats.workers > 0 || deps.botMinWorkers === 0,
    ms: 0,
    detail: stats,
    ...(stats.workers > 0 || deps.botMinWorkers === 0 ? {} : { error: 'no bot workers running' }),
  };
  const running = deps.subscriptions.running();
  const subscriptions: CheckResult = {
    ok: running || !deps.subscriptions.enabled,
    ms: 0,
    detail: { enabled: deps.subscriptions.enabled, running },
    ...(running || !deps.subscriptions.enabled ? {} : { error: 'subscription workers are not running' }),
  };
  const checks: Record<string, CheckResult> = { database, redis, migrations, bots, subscriptions };
  if (deps.closing?.()) checks.shutdown = { ok: false, ms: 0, error: 'shutting down' };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}
