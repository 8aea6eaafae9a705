import { expect, test } from 'vitest';
import { checkThresholds, DEFAULT_THRESHOLDS } from './thresholds.ts';
import type { VitalSet } from './vitals.ts';

const r = (value: number) => ({ value, time: '2025-03-01T10:00:00.000Z', source: 'Observation/x' });
const codes = (set: VitalSet, options = {}) => checkThresholds(set, options).map((f) => `${f.code}/${f.severity}`);

test('adult: every NEWS2 red-score value is critical, the 2-point values warn', () => {
  expect(codes({ rr: r(8), spo2: r(91), sbp: r(90), hr: r(131), temp: r(35.0) })).toEqual([
    'threshold:rr-low/critical',
    'threshold:spo2-low/critical',
    'threshold:sbp-low/critical',
    'threshold:hr-high/critical',
    'threshold:temp-low/critical',
  ]);
  expect(codes({ rr: r(25), sbp: r(220), hr: r(40) })).toEqual([
    'threshold:rr-high/critical',
    'threshold:sbp-high/critical',
    'threshold:hr-low/critical',
  ]);
  expect(codes({ rr: r(22), spo2: r(93), sbp: r(99), hr: r(115), temp: r(39.3) })).toEqual([
    'threshold:rr-raised/warning',
    'threshold:spo2-reduced/warning',
    'threshold:sbp-reduced/warning',
    'threshold:hr-raised/warning',
    'threshold:temp-high/warning',
  ]);
});

test('normal adult values raise nothing, at the edges too', () => {
  expect(checkThresholds({ rr: r(20), spo2: r(94), sbp: r(101), hr: r(110), temp: r(39.0) })).toEqual([]);
  expect(checkThresholds({ rr: r(12), spo2: r(98), sbp: r(219), hr: r(41), temp: r(35.1) })).toEqual([]);
});

test('one finding per parameter, the most severe, with its value and source', () => {
  const [f] = checkThresholds({ spo2: { ...r(88), worstOfSeries: true } });
  expect(f).toMatchObject({ code: 'threshold:spo2-low', severity: 'critical', values: { spo2: 88 }, source: 'Observation/x' });
  expect(f.text).toBe('SpO2 ≤ 91 %: 88 (worst of the recent series)');
});

test('consciousness below alert is critical at any age', () => {
  expect(codes({ consciousness: { ...r(1), avpu: 'V' } }, { ageYears: 4 })).toEqual(['threshold:consciousness/critical']);
});

test('SpO2 scale 2 (hypercapnic failure): 88 % is on target, 83 % is critical', () => {
  expect(codes({ spo2: r(88) }, { spo2Scale: 2 })).toEqual([]);
  expect(codes({ spo2: r(85) }, { spo2Scale: 2 })).toEqual(['threshold:spo2-reduced/warning']);
  expect(codes({ spo2: r(83) }, { spo2Scale: 2 })).toEqual(['threshold:spo2-low/critical']);
});

test('children: ESI danger zone by age band, PALS hypotension; adult NEWS2 limits do not apply', () => {
  // 2 years: HR 150 and RR 35 are normal (adult rules would call them critical).
  expect(codes({ hr: r(150), rr: r(35), sbp: r(90) }, { ageYears: 2 })).toEqual([]);
  expect(codes({ hr: r(165), rr: r(45) }, { ageYears: 2 })).toEqual(['threshold:rr-high/warning', 'threshold:hr-high/warning']);
  // PALS: 70 + 2 × 2 = 74.
  expect(codes({ sbp: r(72) }, { ageYears: 2 })).toEqual(['threshold:sbp-low/critical']);
  expect(codes({ spo2: r(91) }, { ageYears: 2 })).toEqual(['threshold:spo2-reduced/warning']);
  expect(codes({ spo2: r(89) }, { ageYears: 2 })).toEqual(['threshold:spo2-low/critical']);
});

test('the rules are data: a deployment can replace them', () => {
  const strict = [
    ...DEFAULT_THRESHOLDS,
    { code: 'hr-icu', parameter: 'hr' as const, atLeast: 100, severity: 'critical' as const, label: 'HR ≥ 100 (ICU)' },
  ];
  expect(codes({ hr: r(105) }, { rules: strict })).toEqual(['threshold:hr-icu/critical']);
  expect(codes({ hr: r(105) })).toEqual([]);
});
