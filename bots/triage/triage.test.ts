import { expect, test } from 'vitest';
import { triage } from './triage.ts';

test('one entry point: ESI, NEWS2, qSOFA and a rationale naming decision points and values', () => {
  const r = triage({
    ageYears: 67,
    sex: 'male',
    chiefComplaint: 'ant. chest pain, SOB',
    arrivalMode: 'ambulance',
    mentalStatus: 'A',
    painScore: 6,
    vitals: { hr: 118, rr: 24, sbp: 98, dbp: 60, spo2: 93, temp: 37.2, onOxygen: true },
  });
  expect(r.esi.level).toBe(2);
  expect(r.esi.decisionPoint).toBe('B');
  // RR 24 (2) + SpO2 93 (2) + oxygen (2) + SBP 98 (2) + HR 118 (2) = 10
  expect(r.news2).toMatchObject({ score: 10, band: 'high', complete: true });
  expect(r.qsofa).toMatchObject({ score: 2, high: true });
  expect(r.reasons).toBe(r.esi.reasons);
  const lines = r.rationale.split('\n');
  expect(lines[0]).toBe('ESI 2 (emergent) — set by decision point B: high-risk situation');
  expect(r.rationale).toContain('chest pain suggestive of acute coronary syndrome');
  expect(r.rationale).toContain('HR 118 > 100');
  expect(r.rationale).toContain('[local policy] NEWS2 10 ≥ 7');
  expect(r.rationale).toContain('NEWS2 10 (high');
  expect(r.rationale).toContain('pulse 118 → 2');
  expect(r.rationale).toContain('qSOFA 2/3 — high risk if infection suspected');
});

test('the rationale says what was not measured and that the NEWS2 is a lower bound', () => {
  const r = triage({ ageYears: 30, chiefComplaint: 'sprained ankle', vitals: { hr: 84 } });
  expect(r.esi.level).toBe(4);
  expect(r.rationale).toContain('Not measured: RR, SpO2, SBP, T (unknown, not assumed normal');
  expect(r.rationale).toContain('NEWS2 ≥ 0');
  expect(r.rationale).toContain('(lower bound)');
  expect(r.rationale).toContain('Not counted as resources: splint, sling or crutches');
});

test('the result is a pure function of the input', () => {
  const input = { ageYears: 3, chiefComplaint: 'fever', vitals: { temp: 39.6 } };
  expect(triage(input)).toEqual(triage(input));
});
