import { describe, expect, test } from 'vitest';
import { assessVitals } from './assess.ts';
import { at, avpu, bp, deterioratingStream, hr, rr, spo2, spo2Series, temp, vital } from './test-helpers.ts';

describe('a deteriorating stream, assessed as each set arrives', () => {
  const stream = deterioratingStream();
  const upTo = (minutes: number) => stream.filter((o) => Date.parse(o.effectiveDateTime as string) <= Date.parse(at(minutes)));

  test('at the start: normal', () => {
    const a = assessVitals(upTo(0), { ageYears: 64 });
    expect(a.critical).toBe(false);
    expect(a.findings).toEqual([]);
    expect(a.news2).toMatchObject({ score: 0, band: 'low' });
    expect(a.rationale.split('\n')[0]).toBe('No abnormal vital signs');
  });

  test('at 15 minutes: warnings (RR 21, NEWS2 5: urgent response threshold)', () => {
    const a = assessVitals(upTo(15), { ageYears: 64 });
    expect(a.critical).toBe(false);
    expect(a.findings.map((f) => `${f.code}/${f.severity}`)).toEqual(['threshold:rr-raised/warning', 'news2:medium/warning']);
    // RR 21 (2) + SpO2 95 (1) + SBP 112 (0) + HR 106 (1) + T 38.3 (1) = 5; air/oxygen and AVPU not measured.
    expect(a.news2).toMatchObject({ score: 5, band: 'medium', complete: false });
  });

  test('at 20 minutes: the aggregate score turns critical before any single parameter does', () => {
    const a = assessVitals(upTo(20), { ageYears: 64 });
    expect(a.critical).toBe(true);
    expect(a.findings.filter((f) => f.severity === 'critical').map((f) => f.code)).toEqual(['news2:high']);
    expect(a.findings.map((f) => f.code)).toEqual(['news2:high', 'threshold:rr-raised', 'threshold:hr-raised']);
    // RR 23 (2) + SpO2 94 (1) + SBP 104 (1) + HR 114 (2) + T 38.6 (1) = 7
    expect(a.news2).toMatchObject({ score: 7, band: 'high' });
  });

  test('at 30 minutes: critical, with the findings that drove it', () => {
    const a = assessVitals(upTo(30), { ageYears: 64 });
    expect(a.critical).toBe(true);
    expect(a.at).toBe(at(30));
    expect(a.vitals).toMatchObject({
      hr: { value: 133 },
      rr: { value: 27 },
      spo2: { value: 90 },
      sbp: { value: 88 },
      temp: { value: 39.2 },
    });
    expect(a.findings.filter((f) => f.severity === 'critical').map((f) => f.code)).toEqual([
      'threshold:rr-high',
      'threshold:spo2-low',
      'threshold:sbp-low',
      'threshold:hr-high',
      'trend:spo2-falling',
      'trend:sbp-falling',
      'news2:high',
    ]);
    expect(a.news2).toMatchObject({ score: 14, band: 'high' });
    expect(a.rationale).toContain('CRITICAL vital signs');
    expect(a.rationale).toContain('SpO2 falling: 94 → 90 (−4 in 10.0 min');
    expect(a.rationale).toContain('NEWS2 ≥ 14 (high');
  });
});

test('a complete set with oxygen and consciousness scores every NEWS2 parameter', () => {
  const obs = [hr(96, 0), rr(22, 0), spo2(94, 0), bp(108, 70, 0), temp(38.4, 0), avpu('Alert', 0), vital('3151-8', 2, 'L/min', 0)];
  const a = assessVitals(obs, { ageYears: 70 });
  // HR 96 (1) + RR 22 (2) + SpO2 94 (1) + O2 (2) + SBP 108 (1) + A (0) + T 38.4 (1) = 8
  expect(a.news2).toMatchObject({ score: 8, band: 'high', complete: true });
  expect(a.findings[0]).toMatchObject({ code: 'news2:high', severity: 'critical' });
});

test('a transient dip inside a wearable series still counts: the series worst is used', () => {
  const a = assessVitals([spo2Series('97 97 89 96 97', 0, 10_000), hr(80, 0)], { ageYears: 40 });
  expect(a.vitals.spo2).toMatchObject({ value: 89, worstOfSeries: true });
  expect(a.findings.map((f) => f.code)).toContain('threshold:spo2-low');
});

test('a child: NEWS2 is reported but raises nothing; pediatric limits do', () => {
  const a = assessVitals([hr(150, 0), rr(35, 0), spo2(97, 0)], { ageYears: 2 });
  expect(a.news2.score).toBeGreaterThanOrEqual(6);
  expect(a.news2.notes.join()).toContain('16 years');
  expect(a.findings).toEqual([]);
  expect(a.critical).toBe(false);
});

test('ignored data is listed in the rationale', () => {
  const a = assessVitals([vital('8867-4', 120, 'bpm', 0), spo2(97, 0)], { ageYears: 50 });
  expect(a.vitals.hr).toBeUndefined();
  expect(a.rationale).toContain('Ignored Observation/');
  expect(a.rationale).toContain('unit "bpm" is not an accepted UCUM code');
});
