import { describe, expect, test } from 'vitest';
import { expectedWait } from './wait.ts';

const now = Date.parse('2026-12-02T12:00:00Z');
const min = 60_000;

describe('expectedWait', () => {
  test('counts those ahead: more urgent, or as urgent and earlier', () => {
    const me = { arrived: now - 30 * min, acuity: 3 };
    const waiting = [
      { arrived: now - 10 * min, acuity: 2 }, // more urgent, later: ahead
      { arrived: now - 40 * min, acuity: 3 }, // same, earlier: ahead
      { arrived: now - 20 * min, acuity: 3 }, // same, later: behind
      { arrived: now - 90 * min, acuity: 4 }, // less urgent: behind
      { arrived: now - 50 * min }, // not triaged: counted as 3, earlier: ahead
    ];
    expect(expectedWait(me, waiting, [], now).ahead).toBe(3);
  });

  test('uses the recent pace: (ahead + 1) × the interval between pickups, rounded up to 5', () => {
    const me = { arrived: now - 5 * min, acuity: 3 };
    const waiting = [{ arrived: now - 15 * min, acuity: 3 }];
    // 6 pickups in the last 2 hours: one every 20 minutes; one ahead → 40 minutes.
    const recent = [10, 30, 50, 70, 90, 110].map((ago) => ({ arrived: now - (ago + 30) * min, seen: now - ago * min, acuity: 3 }));
    expect(expectedWait(me, waiting, recent, now)).toEqual({ minutes: 40, ahead: 1, basis: 'throughput' });
    // A pickup older than the window does not count: 5 in 2 h → 24 min each → 48 → 50.
    const older = [...recent.slice(0, 5), { arrived: now - 200 * min, seen: now - 150 * min }];
    expect(expectedWait(me, waiting, older, now).minutes).toBe(50);
  });

  test('without a pace, the median door-to-provider of the same acuity less the time waited', () => {
    const me = { arrived: now - 10 * min, acuity: 2 };
    const recent = [
      { arrived: now - 300 * min, seen: now - 270 * min, acuity: 2 }, // 30 min
      { arrived: now - 400 * min, seen: now - 350 * min, acuity: 2 }, // 50 min
      { arrived: now - 500 * min, seen: now - 380 * min, acuity: 4 }, // 120 min, other acuity
    ];
    // median of 30 and 50 = 40, waited 10 → 30.
    expect(expectedWait(me, [], recent, now)).toEqual({ minutes: 30, ahead: 0, basis: 'door-to-provider' });
    // No visit of acuity 1: all acuities (median 50), waited 10 → 40.
    expect(expectedWait({ ...me, acuity: 1 }, [], recent, now).minutes).toBe(40);
    // Waited longer than usual: 0, never negative.
    expect(expectedWait({ arrived: now - 200 * min, acuity: 2 }, [], recent, now).minutes).toBe(0);
  });

  test('no history: no number', () => {
    expect(expectedWait({ arrived: now, acuity: 3 }, [{ arrived: now - min, acuity: 1 }], [], now)).toEqual({ ahead: 1, basis: 'none' });
  });
});
