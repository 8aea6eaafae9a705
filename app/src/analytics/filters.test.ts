import { describe, expect, test } from 'vitest';
import { includesNow, localDay, metricsQuery, readFilters, startOfDay, writeFilters } from './filters.ts';

describe('dashboard filters in the URL', () => {
  const now = new Date('2026-03-02T23:30:00Z');

  test('defaults: today in the given zone, one day, no area or acuity', () => {
    expect(readFilters(new URLSearchParams(), now, 'UTC')).toEqual({ from: '2026-03-02', to: '2026-03-02', tz: 'UTC', acuity: [] });
    // Half past midnight in Paris is already the 3rd.
    expect(readFilters(new URLSearchParams(), now, 'Europe/Paris').from).toBe('2026-03-03');
  });

  test('a URL round-trips; bad values fall back instead of failing', () => {
    const f = readFilters(new URLSearchParams('from=2026-01-01&to=2026-01-31&tz=Europe/Paris&area=resus&acuity=2,1,9,x'), now, 'UTC');
    expect(f).toEqual({ from: '2026-01-01', to: '2026-01-31', tz: 'Europe/Paris', area: 'resus', acuity: [1, 2] });
    expect(readFilters(writeFilters(f), now, 'UTC')).toEqual(f);
    expect(readFilters(new URLSearchParams('from=2026-01-05&to=2026-01-01&tz=Mars/Olympus'), now, 'UTC')).toMatchObject({
      from: '2026-01-05',
      to: '2026-01-05',
      tz: 'UTC',
    });
  });

  test('local days become instants in the zone, across a daylight-saving change', () => {
    expect(startOfDay('2026-03-02', 'UTC').toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(startOfDay('2026-03-02', 'Europe/Paris').toISOString()).toBe('2026-03-01T23:00:00.000Z');
    expect(startOfDay('2026-07-02', 'Europe/Paris').toISOString()).toBe('2026-07-01T22:00:00.000Z');
    expect(startOfDay('2026-03-29', 'Europe/Paris').toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(startOfDay('2026-03-30', 'Europe/Paris').toISOString()).toBe('2026-03-29T22:00:00.000Z');
    expect(localDay(new Date('2026-03-01T23:00:00Z'), 'Europe/Paris')).toBe('2026-03-02');
    const q = metricsQuery({ from: '2026-03-02', to: '2026-03-03', tz: 'Europe/Paris', area: 'resus', acuity: [1, 2] });
    expect(Object.fromEntries(q)).toEqual({
      start: '2026-03-01T23:00:00.000Z',
      end: '2026-03-03T23:00:00.000Z',
      tz: 'Europe/Paris',
      store: 'false',
      area: 'resus',
      acuity: '1,2',
    });
  });

  test('the view is live only when the period includes now', () => {
    expect(includesNow({ from: '2026-03-02', to: '2026-03-02', tz: 'UTC', acuity: [] }, now)).toBe(true);
    expect(includesNow({ from: '2026-03-01', to: '2026-03-01', tz: 'UTC', acuity: [] }, now)).toBe(false);
    expect(includesNow({ from: '2026-03-02', to: '2026-03-02', tz: 'Europe/Paris', acuity: [] }, now)).toBe(false);
  });
});
