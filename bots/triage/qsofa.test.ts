import { expect, test } from 'vitest';
import { qsofa } from './qsofa.ts';

test('no criterion met', () => {
  expect(qsofa({ rr: 18, sbp: 130, mentalStatus: 'A' })).toMatchObject({ score: 0, high: false, couldBeHigh: false, missing: [] });
});

test('each criterion at its threshold', () => {
  expect(qsofa({ rr: 22, sbp: 101, mentalStatus: 'A' }).score).toBe(1);
  expect(qsofa({ rr: 21, sbp: 100, mentalStatus: 'A' }).score).toBe(1);
  expect(qsofa({ rr: 21, sbp: 101, mentalStatus: 'V' }).score).toBe(1);
  expect(qsofa({ rr: 21, sbp: 101, mentalStatus: 'A', newConfusion: true }).score).toBe(1);
});

test('two criteria: high risk', () => {
  const r = qsofa({ rr: 24, sbp: 95, mentalStatus: 'A' });
  expect(r).toMatchObject({ score: 2, high: true });
  expect(r.criteria.filter((c) => c.met).map((c) => c.name)).toEqual(['respiratoryRate', 'systolicBP']);
});

test('all three', () => {
  expect(qsofa({ rr: 30, sbp: 80, mentalStatus: 'P' })).toMatchObject({ score: 3, high: true });
});

test('unmeasured criteria are unknown, and say whether the score could still reach 2', () => {
  const r = qsofa({ rr: 25 });
  expect(r.score).toBe(1);
  expect(r.high).toBe(false);
  expect(r.couldBeHigh).toBe(true);
  expect(r.missing).toEqual(['alteredMentation', 'systolicBP']);
  expect(r.criteria.find((c) => c.name === 'systolicBP')?.met).toBeNull();
  expect(qsofa({ rr: 12, sbp: 130 }).couldBeHigh).toBe(false);
});
