import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export interface RateLimitConfig {
  /** Requests per minute from one IP address. */
  perIpPerMinute: number;
  /** Requests per minute from one authenticated client (login). */
  perClientPerMinute: number;
  /** Failed logins per 15 minutes for one email (from any address). */
  loginFailuresPerEmail: number;
  /** Failed logins per 15 minutes from one IP address. */
  loginFailuresPerIp: number;
}

export type LimitResult = { ok: true } | { ok: false; retryAfterSeconds: number };

type Limiter = RateLimiterMemory | RateLimiterRedis;

function make(redis: Redis | undefined, keyPrefix: string, points: number, duration: number): Limiter {
  if (redis) {
    // If Redis is briefly unreachable, fall back to per-instance limits rather than failing requests.
    return new RateLimiterRedis({
      storeClient: redis,
      keyPrefix,
      points,
      duration,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
    });
  }
  return new RateLimiterMemory({ keyPrefix, points, duration });
}

async function take(limiter: Limiter, key: string): Promise<LimitResult> {
  try {
    await limiter.consume(key);
    return { ok: true };
  } catch (res) {
    if (res instanceof RateLimiterRes) {
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
    }
    throw res;
  }
}

const ALLOWED: LimitResult = Object.freeze({ ok: true });

interface Held {
  /** Points this instance may still give out without asking the store. */
  left: number;
  /** When the store's window ends (epoch ms): what is held is void after it. */
  until: number;
  /** The store refused (part of) the last reservation: nothing more before `until`. */
  spent: boolean;
}

/** Held keys beyond which expired ones are swept on the next reservation. */
const SWEEP_AT = 10_000;

/**
 * A request limit whose points are taken from the store (Redis, or this process's memory) in
 * reservations of a hundredth of the limit, then given out here: one round trip per reservation
 * instead of a Lua script call per request, which was a measurable part of every authenticated
 * request's CPU, and most requests answered without waiting (takeNow). The
 * limit still holds across instances, since reservations count in the store; what changes is that
 * points another instance holds unused cannot be used here (at most a hundredth of the limit per
 * instance). Limits under 200 points reserve one at a time, exactly as before. Concurrent requests
 * for one key share one reservation.
 */
export class ReservingLimiter {
  private readonly held = new Map<string, Held>();
  private readonly reserving = new Map<string, Promise<void>>();
  private readonly limiter: Limiter;
  private readonly points: number;
  private readonly chunk: number;

  constructor(limiter: Limiter, points: number) {
    this.limiter = limiter;
    this.points = points;
    this.chunk = Math.max(1, Math.floor(points / 100));
  }

  /** The answer from what this instance holds, without waiting; undefined when the store must be asked (take). */
  takeNow(key: string): LimitResult | undefined {
    const now = Date.now();
    const held = this.held.get(key);
    if (held && held.until > now) {
      if (held.left > 0) {
        held.left--;
        return ALLOWED;
      }
      if (held.spent) {
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((held.until - now) / 1000)) };
      }
    }
    return undefined;
  }

  async take(key: string): Promise<LimitResult> {
    for (;;) {
      const answer = this.takeNow(key);
      if (answer) {
        return answer;
      }
      const now = Date.now();
      const pending = this.reserving.get(key);
      if (pending) {
        await pending;
        continue;
      }
      const reservation = this.reserve(key, now).finally(() => this.reserving.delete(key));
      this.reserving.set(key, reservation);
      await reservation;
    }
  }

  private async reserve(key: string, now: number): Promise<void> {
    if (this.held.size >= SWEEP_AT) {
      for (const [k, h] of this.held) if (h.until <= now) this.held.delete(k);
    }
    try {
      const res = await this.limiter.consume(key, this.chunk);
      this.held.set(key, { left: this.chunk, until: now + res.msBeforeNext, spent: false });
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      // The store counted the whole reservation; what was left under the limit is still ours.
      const granted = Math.min(this.chunk, Math.max(0, this.points - (res.consumedPoints - this.chunk)));
      this.held.set(key, { left: granted, until: now + res.msBeforeNext, spent: true });
    }
  }
}

/**
 * Request and login limits, shared across instances through Redis when configured
 * (REDIS_URL), otherwise kept in this process.
 */
export class RateLimits {
  private readonly perIp: ReservingLimiter;
  private readonly perClient: ReservingLimiter;
  private readonly loginEmail: Limiter;
  private readonly loginIp: Limiter;

  /**
   * `deployment` names the deployment in Redis keys (`rl:<deployment>:ip:…`): instances of one
   * deployment share their limits, and deployments sharing a Redis (tests, staging beside
   * production) do not. The server passes its database's id (databaseHomeId).
   */
  constructor(config: RateLimitConfig, redis?: Redis, deployment?: string) {
    const scope = deployment ? `rl:${deployment}` : 'rl';
    // In process too: the library's consume() is a promise and a result object per request, and
    // a reservation lets most requests be answered without waiting (requestNow, clientNow).
    const requests = (prefix: string, points: number) => new ReservingLimiter(make(redis, prefix, points, 60), points);
    this.perIp = requests(`${scope}:ip`, config.perIpPerMinute);
    this.perClient = requests(`${scope}:client`, config.perClientPerMinute);
    this.loginEmail = make(redis, `${scope}:login-email`, config.loginFailuresPerEmail, 15 * 60);
    this.loginIp = make(redis, `${scope}:login-ip`, config.loginFailuresPerIp, 15 * 60);
  }

  request(ip: string): Promise<LimitResult> {
    return this.perIp.take(ip);
  }

  /** `request`'s answer when it needs no wait, else undefined. */
  requestNow(ip: string): LimitResult | undefined {
    return this.perIp.takeNow(ip);
  }

  client(clientKey: string): Promise<LimitResult> {
    return this.perClient.take(clientKey);
  }

  /** `client`'s answer when it needs no wait, else undefined. */
  clientNow(clientKey: string): LimitResult | undefined {
    return this.perClient.takeNow(clientKey);
  }

  /** Whether a login attempt may proceed (earlier failures have not used up the allowance). */
  async loginAllowed(email: string, ip: string): Promise<LimitResult> {
    for (const [limiter, key] of [
      [this.loginEmail, email.toLowerCase()],
      [this.loginIp, ip],
    ] as const) {
      const res = await limiter.get(key);
      if (res && res.remainingPoints <= 0) {
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
      }
    }
    return { ok: true };
  }

  async loginFailed(email: string, ip: string): Promise<void> {
    await take(this.loginEmail, email.toLowerCase());
    await take(this.loginIp, ip);
  }

  async loginSucceeded(email: string): Promise<void> {
    await this.loginEmail.delete(email.toLowerCase());
  }
}
