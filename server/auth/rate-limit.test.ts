import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, test, vi } from 'vitest';
import { ReservingLimiter } from './rate-limit.ts';

/** A store standing for Redis (the same limiter API), and its consume calls. */
function store(points: number) {
  const limiter = new RateLimiterMemory({ points, duration: 60 });
  return { limiter, consume: vi.spyOn(limiter, 'consume') };
}

describe('ReservingLimiter', () => {
  test('two instances share the limit exactly, asking the store once per hundredth of it', async () => {
    const { limiter, consume } = store(1000);
    const a = new ReservingLimiter(limiter, 1000);
    const b = new ReservingLimiter(limiter, 1000);
    let ok = 0;
    for (let i = 0; i < 500; i++) {
      if ((await a.take('ip')).ok) ok++;
      if ((await b.take('ip')).ok) ok++;
    }
    expect(ok).toBe(1000);
    expect(consume).toHaveBeenCalledTimes(100);
    for (const instance of [a, b]) {
      const refused = await instance.take('ip');
      expect(refused.ok).toBe(false);
      expect(refused.ok === false && refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.ok === false && refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    // Other keys have their own allowance.
    expect((await a.take('other')).ok).toBe(true);
  });

  test('at the limit, the part of a reservation still under it is given out; nothing beyond', async () => {
    const { limiter } = store(1000);
    const a = new ReservingLimiter(limiter, 1000);
    const b = new ReservingLimiter(limiter, 1000);
    // a holds a reservation of 10 and uses 3; b uses the rest of the store's points.
    for (let i = 0; i < 3; i++) expect((await a.take('k')).ok).toBe(true);
    let servedByB = 0;
    while ((await b.take('k')).ok) servedByB++;
    expect(servedByB).toBe(990);
    let servedByA = 0;
    while ((await a.take('k')).ok) servedByA++;
    expect(servedByA).toBe(7);
  });

  test('takeNow answers from what is held, without waiting, and leaves the rest to take', async () => {
    const { limiter, consume } = store(200);
    const a = new ReservingLimiter(limiter, 200);
    // Nothing held yet: the store must be asked.
    expect(a.takeNow('ip')).toBeUndefined();
    expect((await a.take('ip')).ok).toBe(true);
    // The reservation's other point is given out at once.
    expect(a.takeNow('ip')).toEqual({ ok: true });
    expect(a.takeNow('ip')).toBeUndefined();
    for (let i = 0; i < 198; i++) expect((await a.take('ip')).ok).toBe(true);
    // Refused by the store: from then on the refusal needs no wait either.
    expect((await a.take('ip')).ok).toBe(false);
    const refused = a.takeNow('ip');
    expect(refused?.ok).toBe(false);
    expect(consume).toHaveBeenCalledTimes(101);
  });

  test('concurrent requests for one key share a reservation', async () => {
    const { limiter, consume } = store(1000);
    const a = new ReservingLimiter(limiter, 1000);
    const results = await Promise.all(Array.from({ length: 50 }, () => a.take('burst')));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(consume).toHaveBeenCalledTimes(5);
  });

  test('small limits reserve one point at a time; once refused, the store is not asked again in the window', async () => {
    const { limiter, consume } = store(15);
    const a = new ReservingLimiter(limiter, 15);
    const oks = [];
    for (let i = 0; i < 17; i++) oks.push((await a.take('client')).ok);
    expect(oks).toEqual([...Array(15).fill(true), false, false]);
    expect(consume).toHaveBeenCalledTimes(16);
  });
});
