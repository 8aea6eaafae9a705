import { describe, expect, test } from 'vitest';
import { agentMetrics, alarmMetrics, countReturns, type EdVisit, filterVisits, flowMetrics, quantile, summarize } from './metrics.ts';

const T0 = Date.parse('2026-03-02T08:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

function visit(id: string, over: Partial<EdVisit> = {}): EdVisit {
  return {
    id,
    patient: `p-${id}`,
    arrival: T0,
    status: 'finished',
    lwbs: false,
    admitted: false,
    hour: 8,
    weekday: 1,
    day: '2026-03-02',
    ...over,
  };
}

describe('summaries', () => {
  test('quantile interpolates like percentile_cont', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10], 0.9)).toBe(10);
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9)).toBe(90);
  });

  test('summarize reports minutes and ignores negative durations (clock errors)', () => {
    expect(summarize([5 * MIN, 15 * MIN, 10 * MIN, -MIN])).toEqual({ n: 3, median: 10, p90: 14 });
    expect(summarize([])).toEqual({ n: 0, median: null, p90: null });
  });
});

describe('flow metrics', () => {
  const visits = [
    visit('a', { triagedAt: T0 + 4 * MIN, providerAt: T0 + 20 * MIN, departure: T0 + 2 * HOUR, esi: 3 }),
    visit('b', {
      triagedAt: T0 + 10 * MIN,
      providerAt: T0 + 30 * MIN,
      departure: T0 + 6 * HOUR,
      esi: 2,
      admitted: true,
      admittedAt: T0 + 3 * HOUR,
    }),
    visit('c', { status: 'cancelled', lwbs: true, departure: T0 + HOUR, esi: 5, hour: 23, weekday: 7 }),
    visit('d', { triagedAt: T0 + 2 * MIN }),
  ];
  const m = flowMetrics(visits, visits);

  test('door-to-triage, door-to-provider and triage-to-provider use the visits that have both times', () => {
    expect(m.arrivals).toBe(4);
    expect(m.doorToTriage).toEqual({ n: 3, median: 4, p90: 8.8 });
    expect(m.doorToProvider).toEqual({ n: 2, median: 25, p90: 29 });
    expect(m.triageToProvider).toEqual({ n: 2, median: 18, p90: 19.6 });
  });

  test('length of stay splits discharged from admitted; boarding runs from the admission decision to departure', () => {
    expect(m.lengthOfStay.discharged).toEqual({ n: 1, median: 120, p90: 120 });
    expect(m.lengthOfStay.admitted).toEqual({ n: 1, median: 360, p90: 360 });
    expect(m.boarding).toEqual({ n: 1, median: 180, p90: 180 });
  });

  test('LWBS rate, acuity mix and arrival histograms', () => {
    expect(m.lwbs).toEqual({ count: 1, rate: 0.25 });
    expect(m.acuityMix).toEqual({ '1': 0, '2': 1, '3': 1, '4': 0, '5': 1, unknown: 1 });
    expect(m.arrivalsByHour[8]).toBe(3);
    expect(m.arrivalsByHour[23]).toBe(1);
    expect(m.arrivalsByWeekday).toEqual([3, 0, 0, 0, 0, 0, 1]);
  });

  test('a return is a new visit within 72 h of the previous one ending', () => {
    const first = visit('1', { patient: 'p', departure: T0 + 2 * HOUR });
    const back = visit('2', { patient: 'p', arrival: T0 + 2 * HOUR + 71 * HOUR });
    const late = visit('3', { patient: 'p', arrival: back.arrival + 73 * HOUR });
    const other = visit('4', { patient: 'q', arrival: T0 + 5 * HOUR });
    expect(countReturns([first, back, late, other], [first, back, late, other])).toBe(1);
    // The earlier visit may lie before the period: it is in `earlier` only.
    expect(countReturns([back], [first, back])).toBe(1);
  });

  test('filters keep an area (by Location id or zone) and acuity levels', () => {
    const vs = [visit('x', { area: 'ed-main', zone: 'resus', esi: 1 }), visit('y', { area: 'ed-main', zone: 'fast-track', esi: 4 })];
    expect(filterVisits(vs, { area: 'resus' }).map((v) => v.id)).toEqual(['x']);
    expect(filterVisits(vs, { area: 'ed-main' }).map((v) => v.id)).toEqual(['x', 'y']);
    expect(filterVisits(vs, { acuity: [4, 5] }).map((v) => v.id)).toEqual(['y']);
  });
});

describe('device alarms and agents', () => {
  test('alarms per patient-hour count only alarms during the patient stay', () => {
    const vs = [visit('a', { patient: 'p', departure: T0 + 4 * HOUR }), visit('b', { patient: 'q', arrival: T0 + HOUR })];
    const alarms = [
      { patient: 'p', at: T0 + HOUR },
      { patient: 'p', at: T0 + 5 * HOUR },
      { patient: 'q', at: T0 + 2 * HOUR },
      { patient: 'z', at: T0 + 2 * HOUR },
    ];
    // q is still in the ED at the end of the period (T0 + 6 h): 4 + 5 patient-hours.
    expect(alarmMetrics(vs, alarms, T0, T0 + 6 * HOUR)).toEqual({ alarms: 2, patientHours: 9, perPatientHour: 0.222 });
  });

  test('step latency, failure and skip rates; overrides with their direction', () => {
    const ids = new Set(['e1', 'e2', 'e3']);
    const m = agentMetrics(
      ids,
      [
        { encounter: 'e1', step: 'triage', status: 'completed', start: T0, end: T0 + 2000 },
        { encounter: 'e2', step: 'triage', status: 'completed', start: T0, end: T0 + 4000 },
        { encounter: 'e3', step: 'triage', status: 'failed', start: T0 },
        { encounter: 'e1', step: 'billing', status: 'cancelled' },
        { encounter: 'other', step: 'billing', status: 'failed' },
      ],
      [
        { encounter: 'e1', at: T0, level: 3, override: false },
        { encounter: 'e1', at: T0 + MIN, level: 2, override: true },
        { encounter: 'e2', at: T0, level: 2, override: false },
        { encounter: 'e2', at: T0 + MIN, level: 4, override: true },
        { encounter: 'e3', at: T0, level: 3, override: false },
      ],
    );
    expect(m.steps.triage).toEqual({ runs: 3, latency: { n: 2, median: 0.1, p90: 0.1 }, failed: 1, failureRate: 0.3333, skipped: 0 });
    expect(m.steps.billing).toEqual({ runs: 1, latency: { n: 0, median: null, p90: null }, failed: 0, failureRate: 0, skipped: 1 });
    expect(m.overrides).toEqual({ triaged: 3, overridden: 2, rate: 0.6667, upTriage: 1, downTriage: 1, same: 0 });
  });
});
