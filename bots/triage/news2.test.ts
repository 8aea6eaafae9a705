import { describe, expect, test } from 'vitest';
import {
  news2,
  news2Band,
  scoreAirOrOxygen,
  scoreConsciousness,
  scorePulse,
  scoreRespirationRate,
  scoreSpo2,
  scoreSystolicBP,
  scoreTemperature,
} from './news2.ts';

// Every cell of the RCP 2017 chart, at both of its edges.
describe('every cell of the NEWS2 chart', () => {
  test.each([
    [5, 3],
    [8, 3],
    [9, 1],
    [11, 1],
    [12, 0],
    [20, 0],
    [21, 2],
    [24, 2],
    [25, 3],
    [40, 3],
  ])('respiration rate %d → %d', (rr, score) => {
    expect(scoreRespirationRate(rr).score).toBe(score);
  });

  test.each([
    [85, 3],
    [91, 3],
    [92, 2],
    [93, 2],
    [94, 1],
    [95, 1],
    [96, 0],
    [100, 0],
  ])('SpO2 scale 1: %d%% → %d', (spo2, score) => {
    expect(scoreSpo2(spo2, 1).score).toBe(score);
    // Scale 1 does not depend on oxygen (oxygen scores in its own row).
    expect(scoreSpo2(spo2, 1, true).score).toBe(score);
  });

  test.each([
    [80, undefined, 3],
    [83, true, 3],
    [84, false, 2],
    [85, true, 2],
    [86, undefined, 1],
    [87, true, 1],
    [88, true, 0],
    [92, true, 0],
    [88, false, 0],
    [92, false, 0],
    [93, false, 0],
    [99, false, 0],
    [93, true, 1],
    [94, true, 1],
    [95, true, 2],
    [96, true, 2],
    [97, true, 3],
    [100, true, 3],
  ])('SpO2 scale 2: %d%% (on oxygen: %s) → %d', (spo2, onOxygen, score) => {
    expect(scoreSpo2(spo2, 2, onOxygen).score).toBe(score);
  });

  test('SpO2 scale 2 ≥ 93 with air/oxygen not recorded scores as air and says so', () => {
    const s = scoreSpo2(97, 2, undefined);
    expect(s.score).toBe(0);
    expect(s.cell).toContain('not recorded');
  });

  test('air or oxygen', () => {
    expect(scoreAirOrOxygen(false).score).toBe(0);
    expect(scoreAirOrOxygen(true).score).toBe(2);
  });

  test.each([
    [70, 3],
    [90, 3],
    [91, 2],
    [100, 2],
    [101, 1],
    [110, 1],
    [111, 0],
    [219, 0],
    [220, 3],
    [260, 3],
  ])('systolic BP %d → %d', (sbp, score) => {
    expect(scoreSystolicBP(sbp).score).toBe(score);
  });

  test.each([
    [30, 3],
    [40, 3],
    [41, 1],
    [50, 1],
    [51, 0],
    [90, 0],
    [91, 1],
    [110, 1],
    [111, 2],
    [130, 2],
    [131, 3],
    [180, 3],
  ])('pulse %d → %d', (hr, score) => {
    expect(scorePulse(hr).score).toBe(score);
  });

  test.each([
    [34.0, 3],
    [35.0, 3],
    [35.1, 1],
    [36.0, 1],
    [36.1, 0],
    [38.0, 0],
    [38.1, 1],
    [39.0, 1],
    [39.1, 2],
    [41.0, 2],
  ])('temperature %f °C → %d', (t, score) => {
    expect(scoreTemperature(t).score).toBe(score);
  });

  test.each([
    ['A', undefined, 0],
    ['A', false, 0],
    ['A', true, 3],
    ['V', undefined, 3],
    ['P', undefined, 3],
    ['U', undefined, 3],
  ] as const)('consciousness %s (new confusion %s) → %d', (avpu, confusion, score) => {
    expect(scoreConsciousness(avpu, confusion)?.score).toBe(score);
  });

  test('consciousness not assessed is missing, unless new confusion is recorded', () => {
    expect(scoreConsciousness(undefined, undefined)).toBeUndefined();
    expect(scoreConsciousness(undefined, false)).toBeUndefined();
    expect(scoreConsciousness(undefined, true)?.score).toBe(3);
  });

  test('values between charted whole numbers are rounded as charted', () => {
    expect(scoreRespirationRate(8.4).score).toBe(3);
    expect(scoreRespirationRate(8.6).score).toBe(1);
    expect(scoreTemperature(38.04).score).toBe(0);
    expect(scoreTemperature(38.06).score).toBe(1);
    expect(scorePulse(90.4).score).toBe(0);
  });
});

describe('aggregate score and bands', () => {
  const normal = { rr: 16, spo2: 98, onOxygen: false, sbp: 125, hr: 72, mentalStatus: 'A' as const, temp: 36.8 };

  test('all normal: 0, low, complete', () => {
    const r = news2(normal);
    expect(r).toMatchObject({ score: 0, band: 'low', complete: true, missing: [], singleParameter3: false, scale: 1 });
    expect(r.parameterScores).toHaveLength(7);
  });

  test('bands: 0–4 low, 5–6 medium, ≥ 7 high', () => {
    expect(news2Band(0, false)).toBe('low');
    expect(news2Band(4, false)).toBe('low');
    expect(news2Band(5, false)).toBe('medium');
    expect(news2Band(6, false)).toBe('medium');
    expect(news2Band(7, false)).toBe('high');
    expect(news2Band(20, false)).toBe('high');
  });

  test('single-parameter 3 rule: a 3 in one parameter with a total of 0–4 is low-medium', () => {
    const r = news2({ ...normal, hr: 135 });
    expect(r).toMatchObject({ score: 3, band: 'low-medium', singleParameter3: true });
    expect(news2Band(4, true)).toBe('low-medium');
    // A higher band wins over the single-parameter rule.
    expect(news2Band(5, true)).toBe('medium');
    expect(news2Band(7, true)).toBe('high');
  });

  test('a deteriorating patient: medium then high', () => {
    // RR 22 (2) + SpO2 94 (1) + HR 105 (1) + T 38.5 (1) = 5
    expect(news2({ ...normal, rr: 22, spo2: 94, hr: 105, temp: 38.5 })).toMatchObject({ score: 5, band: 'medium' });
    // RR 26 (3) + SpO2 91 (3) + oxygen (2) + SBP 98 (2) + HR 118 (2) + V (3) + T 39.4 (2) = 17
    const worst = news2({ rr: 26, spo2: 91, onOxygen: true, sbp: 98, hr: 118, mentalStatus: 'V', temp: 39.4 });
    expect(worst).toMatchObject({ score: 17, band: 'high', complete: true });
    expect(worst.response).toContain('emergency');
  });

  test('scale 2 with oxygen: 97% on oxygen scores 3 (over-oxygenation) plus 2 for oxygen', () => {
    const r = news2({ ...normal, spo2: 97, onOxygen: true, scale: 2 });
    expect(r.scale).toBe(2);
    expect(r.parameterScores.find((p) => p.parameter === 'spo2')?.score).toBe(3);
    expect(r.score).toBe(5);
    // The same patient on scale 1 scores only the oxygen.
    expect(news2({ ...normal, spo2: 97, onOxygen: true }).score).toBe(2);
  });

  test('missing parameters are listed, never scored as normal; the score is a lower bound', () => {
    const r = news2({ hr: 120, temp: 39.5 });
    expect(r.complete).toBe(false);
    expect(r.missing).toEqual(['respirationRate', 'spo2', 'airOrOxygen', 'systolicBP', 'consciousness']);
    expect(r.score).toBe(4);
    expect(r.band).toBe('low');
  });

  test('nothing measured: no score, no band', () => {
    const r = news2({});
    expect(r.score).toBeNull();
    expect(r.band).toBeNull();
    expect(r.missing).toHaveLength(7);
  });

  test('non-finite numbers are missing, not zero', () => {
    const r = news2({ ...normal, rr: Number.NaN });
    expect(r.missing).toEqual(['respirationRate']);
    expect(r.score).toBe(0);
  });

  test('validation notes: children and pregnancy', () => {
    expect(news2({ ...normal, ageYears: 12 }).notes.join()).toContain('16 years');
    expect(news2({ ...normal, pregnant: true }).notes.join()).toContain('pregnancy');
    expect(news2({ ...normal, ageYears: 40 }).notes).toEqual([]);
  });
});
