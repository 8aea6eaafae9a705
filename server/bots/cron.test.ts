import { describe, expect, test } from 'vitest';
import { botSchedule, nextTick, timingToCron } from './cron.ts';

describe('bot schedules', () => {
  test('cronString wins; five fields mean second 0; six fields have seconds', () => {
    expect(botSchedule({ cronString: '*/5 * * * *', cronTiming: { repeat: { period: 1, periodUnit: 'h' } } })).toEqual(['*/5 * * * *']);
    expect(nextTick(['*/5 * * * *'], new Date('2025-01-01T10:02:30Z'))?.toISOString()).toBe('2025-01-01T10:05:00.000Z');
    expect(nextTick(['*/10 * * * * *'], new Date('2025-01-01T10:02:30Z'))?.toISOString()).toBe('2025-01-01T10:02:40.000Z');
    expect(botSchedule({})).toEqual([]);
  });

  test('the next tick is strictly later, the earliest of several expressions', () => {
    expect(nextTick(['0 * * * *'], new Date('2025-01-01T10:00:00Z'))?.toISOString()).toBe('2025-01-01T11:00:00.000Z');
    expect(nextTick(['0 30 8 * * *', '0 0 8 * * *'], new Date('2025-01-01T07:00:00Z'))?.toISOString()).toBe('2025-01-01T08:00:00.000Z');
  });

  test('cronTiming: periods and times of day', () => {
    expect(timingToCron({ repeat: { period: 1, periodUnit: 'min' } })).toEqual(['0 * * * * *']);
    expect(timingToCron({ repeat: { period: 15, periodUnit: 'min' } })).toEqual(['0 */15 * * * *']);
    expect(timingToCron({ repeat: { frequency: 2, period: 10, periodUnit: 'min' } })).toEqual(['0 */5 * * * *']);
    expect(timingToCron({ repeat: { period: 2, periodUnit: 'h', dayOfWeek: ['mon', 'fri'] } })).toEqual(['0 0 */2 * * 1,5']);
    expect(timingToCron({ repeat: { timeOfDay: ['08:00:00', '20:30'] } })).toEqual(['0 0 8 * * *', '0 30 20 * * *']);
    expect(
      nextTick(timingToCron({ repeat: { timeOfDay: ['08:00:00'], dayOfWeek: ['sat'] } }), new Date('2025-01-01T09:00:00Z'))?.toISOString(),
    ).toBe('2025-01-04T08:00:00.000Z');
  });

  test('invalid schedules are refused with a reason', () => {
    expect(() => botSchedule({ cronString: 'every minute' })).toThrow();
    expect(() => timingToCron({ repeat: { period: 7, periodUnit: 'min' } })).toThrow(/divisor/);
    expect(() => timingToCron({ repeat: { period: 1, periodUnit: 'wk' } })).toThrow(/periodUnit/);
    expect(() => timingToCron({ repeat: { timeOfDay: ['8 am'] } })).toThrow(/hh:mm/);
    expect(() => timingToCron({})).toThrow(/repeat/);
  });
});
