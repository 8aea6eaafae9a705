import { expect, test } from 'vitest';
import { ageInDays, loadCases, planShift, wearableReading } from './demo-plan.ts';

const options = { seed: 7, durationMinutes: 600, arrivalsPerHour: 10, hl7Share: 0.25, syntheticPatients: 300 };

test('the same seed plays the same shift; another seed another one', () => {
  expect(planShift(options)).toEqual(planShift(options));
  expect(planShift({ ...options, seed: 8 })).not.toEqual(planShift(options));
});

test('arrivals come at about the asked rate, mixed in acuity, mode and channel', () => {
  const plan = planShift({ ...options, durationMinutes: 6000 });
  expect(plan.length).toBeGreaterThan(800);
  expect(plan.length).toBeLessThan(1200);
  expect(plan.every((a, i) => i === 0 || a.at >= plan[i - 1].at)).toBe(true);
  expect(plan.every((a) => a.dischargeAt > a.at + 30)).toBe(true);
  const share = (f: (a: (typeof plan)[number]) => boolean) => plan.filter(f).length / plan.length;
  expect(share((a) => a.viaHl7)).toBeGreaterThan(0.15);
  expect(share((a) => a.case.arrivalMode === 'ambulance')).toBeGreaterThan(0.1);
  expect(share((a) => a.case.arrivalMode === 'walk-in')).toBeGreaterThan(0.3);
  expect(share((a) => a.returning !== undefined)).toBeGreaterThan(0.1);
  expect(share((a) => a.deteriorating)).toBeGreaterThan(0.02);
  expect(plan.filter((a) => a.viaHl7).every((a) => !a.wearable && a.returning === undefined)).toBe(true);
  expect(new Set(plan.map((a) => a.case.chiefComplaint)).size).toBe(loadCases().length);
});

test('a deteriorating wearable trends worse; a stable one stays near the arrival vitals', () => {
  const plan = planShift(options);
  const bad = { ...plan[0], deteriorating: true };
  const ok = { ...plan[0], deteriorating: false };
  expect(wearableReading(bad, 120, 1).spo2).toBeLessThan(wearableReading(bad, 5, 1).spo2 - 4);
  expect(wearableReading(bad, 120, 1).hr).toBeGreaterThan(wearableReading(bad, 5, 1).hr + 20);
  expect(Math.abs(wearableReading(ok, 120, 1).hr - ok.case.vitals.hr)).toBeLessThanOrEqual(3);
});

test('ages are read as the examples write them', () => {
  expect(ageInDays(40)).toBe(14_610);
  expect(ageInDays('16d')).toBe(16);
  expect(ageInDays('2y')).toBe(731);
  expect(() => ageInDays('old')).toThrow(/age/);
  expect(loadCases().every((c) => c.ageDays >= 0 && c.vitals.hr > 0 && c.vitals.sbp > 0)).toBe(true);
});
