import { describe, expect, test } from 'vitest';
import type { AllMetrics } from '../../../server/fhir/analytics/reports.ts';
import { metricRows, toCsv } from './csv.ts';

const s = (n: number, median: number | null, p90: number | null) => ({ n, median, p90 });

describe('metric tables and CSV', () => {
  const metrics: AllMetrics = {
    flow: {
      arrivals: 4,
      doorToTriage: s(3, 4, 8.8),
      doorToProvider: s(2, 25, 29),
      triageToProvider: s(2, 18, 19.6),
      lengthOfStay: { discharged: s(1, 120, 120), admitted: s(0, null, null) },
      boarding: s(0, null, null),
      lwbs: { count: 1, rate: 0.25 },
      returns72h: { count: 0, rate: 0 },
      acuityMix: { '1': 0, '2': 1, '3': 2, '4': 0, '5': 0, unknown: 1 },
      arrivalsByHour: new Array(24).fill(0),
      arrivalsByWeekday: [4, 0, 0, 0, 0, 0, 0],
      arrivalsByDay: [{ day: '2026-03-02', count: 4 }],
    },
    agents: {
      steps: { triage: { runs: 3, latency: s(2, 0.1, 0.1), failed: 1, failureRate: 0.3333, skipped: 0 } },
      overrides: { triaged: 3, overridden: 1, rate: 0.3333, upTriage: 1, downTriage: 0, same: 0 },
    },
  };

  test('every metric is a row with its median, p90 and n, or its count and rate', () => {
    const rows = metricRows(metrics);
    expect(rows.find((r) => r.metric === 'door-to-provider')).toEqual({
      group: 'flow',
      metric: 'door-to-provider',
      n: 2,
      median: 25,
      p90: 29,
    });
    expect(rows.find((r) => r.metric === 'ESI 3')).toEqual({ group: 'acuity mix', metric: 'ESI 3', count: 2, rate: 0.5 });
    expect(rows.find((r) => r.group === 'agent latency')).toEqual({
      group: 'agent latency',
      metric: 'triage',
      n: 2,
      median: 0.1,
      p90: 0.1,
      count: 3,
    });
    expect(rows.filter((r) => r.group === 'device alarms')).toEqual([]);
  });

  test('CSV: a header, one line per row, empty cells for what a row does not have, quoting where needed', () => {
    const csv = toCsv(metricRows(metrics));
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe('group,metric,n,median_min,p90_min,count,rate');
    expect(lines).toContain('flow,door-to-triage,3,4,8.8,,');
    expect(lines).toContain('flow,"length of stay, admitted",0,,,,');
    expect(lines).toContain('flow,left without being seen,,,,1,0.25');
    expect(lines).toHaveLength(1 + metricRows(metrics).length);
  });
});
