// Builders of realistic device Observations for the smart-device tests.
import type { Observation } from '@medplum/fhirtypes';

export const T0 = Date.parse('2025-03-01T10:00:00.000Z');
/** ISO time `minutes` after T0. */
export const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

const UCUM = 'http://unitsofmeasure.org';
let nextId = 1;

export function vital(loinc: string, value: number, unit: string, minutes: number, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `obs-${nextId++}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: loinc }] },
    subject: { reference: 'Patient/p1' },
    device: { reference: 'Device/d1' },
    effectiveDateTime: at(minutes),
    valueQuantity: { value, unit, system: UCUM, code: unit },
    ...extra,
  };
}

export const hr = (v: number, m: number) => vital('8867-4', v, '/min', m);
export const rr = (v: number, m: number) => vital('9279-1', v, '/min', m);
export const spo2 = (v: number, m: number) => vital('59408-5', v, '%', m);
export const temp = (v: number, m: number) => vital('8310-5', v, 'Cel', m);

export function bp(systolic: number, diastolic: number, minutes: number): Observation {
  return {
    resourceType: 'Observation',
    id: `obs-${nextId++}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
    effectiveDateTime: at(minutes),
    component: [
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
        valueQuantity: { value: systolic, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
      },
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] },
        valueQuantity: { value: diastolic, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
      },
    ],
  };
}

export function avpu(answer: string, minutes: number): Observation {
  return {
    resourceType: 'Observation',
    id: `obs-${nextId++}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '67775-7' }] },
    effectiveDateTime: at(minutes),
    valueCodeableConcept: { text: answer },
  };
}

/** A pulse-oximeter series: one sample every `periodMs`, starting at `minutes`. */
export function spo2Series(
  data: string,
  minutes: number,
  periodMs = 1000,
  extra: Partial<Observation['valueSampledData']> = {},
): Observation {
  return {
    resourceType: 'Observation',
    id: `obs-${nextId++}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '59408-5' }] },
    effectivePeriod: { start: at(minutes) },
    valueSampledData: { origin: { value: 0, unit: '%', system: UCUM, code: '%' }, period: periodMs, dimensions: 1, data, ...extra },
  };
}

/** Every 5 minutes for 30 minutes, a patient sliding into sepsis: HR and RR up, SpO2 and BP down. */
export function deterioratingStream(): Observation[] {
  const steps = [
    { hr: 86, rr: 16, spo2: 97, sbp: 128, t: 37.4 },
    { hr: 92, rr: 17, spo2: 97, sbp: 124, t: 37.7 },
    { hr: 99, rr: 19, spo2: 96, sbp: 118, t: 38.0 },
    { hr: 106, rr: 21, spo2: 95, sbp: 112, t: 38.3 },
    { hr: 114, rr: 23, spo2: 94, sbp: 104, t: 38.6 },
    { hr: 124, rr: 25, spo2: 92, sbp: 97, t: 38.9 },
    { hr: 133, rr: 27, spo2: 90, sbp: 88, t: 39.2 },
  ];
  return steps.flatMap((s, i) => [hr(s.hr, i * 5), rr(s.rr, i * 5), spo2(s.spo2, i * 5), bp(s.sbp, 70, i * 5), temp(s.t, i * 5)]);
}
