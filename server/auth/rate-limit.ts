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

/**
 * Request and login limits, shared across instances through Redis when configured
 * (REDIS_URL), otherwise kept in this process.
 */
export class RateLimits {
  private readonly perIp: Limiter;
  private readonly perClient: Limiter;
  private readonly loginEmail: Limiter;
  private readonly loginIp: Limiter;

  constructor(config: RateLimitConfig, redis?: Redis) {
    this.perIp = make(redis, 'rl:ip', config.perIpPerMinute, 60);
    this.perClient = make(redis, 'rl:client', config.perClientPerMinute, 60);
    this.loginEmail = make(redis, 'rl:login-email', config.loginFailuresPerEmail, 15 * 60);
    this.loginIp = make(redis, 'rl:login-ip', config.loginFailuresPerIp, 15 * 60);
  }

  request(ip: string): Promise<LimitResult> {
    return take(this.perIp, ip);
  }

  client(clientKey: string): Promise<LimitResult> {
    return take(this.perClient, clientKey);
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
