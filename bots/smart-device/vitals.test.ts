import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { at, avpu, bp, hr, rr, spo2, spo2Series, temp, vital } from './test-helpers.ts';
import { extractSamples, latestVitalSet } from './vitals.ts';

describe('extractSamples', () => {
  test('single values in UCUM units; °F converted to °C', () => {
    const { samples, ignored } = extractSamples([
      hr(88, 0),
      temp(38.2, 0),
      vital('8310-5', 101.3, '[degF]', 1),
      vital('2708-6', 95, '%', 1),
    ]);
    expect(ignored).toEqual([]);
    expect(samples.map((s) => [s.key, s.value])).toEqual([
      ['hr', 88],
      ['temp', 38.2],
      ['temp', 38.5],
      ['spo2', 95],
    ]);
  });

  test('unknown units and non-UCUM systems are ignored with a reason, never guessed', () => {
    const bpm = vital('8867-4', 88, 'bpm', 0);
    const kelvin = vital('8310-5', 310, 'K', 0);
    const other = vital('9279-1', 18, '/min', 0, {});
    other.valueQuantity = { value: 18, code: '/min', system: 'http://example.org/units' };
    const { samples, ignored } = extractSamples([bpm, kelvin, other]);
    expect(samples).toEqual([]);
    expect(ignored.map((i) => i.reason)).toEqual([
      'heart rate: unit "bpm" is not an accepted UCUM code for heart rate (/min, {beats}/min)',
      'body temperature: unit "K" is not an accepted UCUM code for body temperature (Cel, [degF])',
      'respiratory rate: unit system http://example.org/units is not UCUM',
    ]);
  });

  test('entered-in-error, untimed and non-vital Observations are ignored', () => {
    const wrong = { ...hr(200, 0), status: 'entered-in-error' as const };
    const untimed = { ...hr(80, 0), effectiveDateTime: undefined };
    const glucose = vital('2339-0', 110, 'mg/dL', 0);
    const { samples, ignored } = extractSamples([wrong, untimed, glucose]);
    expect(samples).toEqual([]);
    expect(ignored.map((i) => i.reason)).toEqual([
      'status entered-in-error',
      'no effective time',
      'not a vital sign handled here (LOINC 2339-0)',
    ]);
  });

  test('blood-pressure panel components and vital-signs panel members', () => {
    const panel: Observation = {
      resourceType: 'Observation',
      id: 'vs',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85353-1' }] },
      effectiveDateTime: at(0),
      hasMember: [{ reference: 'Observation/present' }, { reference: 'Observation/missing' }],
    };
    const member = { ...hr(77, 0), id: 'present' };
    const { samples, unresolvedMembers, ignored } = extractSamples([panel, member, bp(132, 84, 0)]);
    expect(ignored).toEqual([]);
    expect(samples.map((s) => [s.key, s.value, s.source.replace(/obs-\d+/, 'x')])).toEqual([
      ['hr', 77, 'Observation/present'],
      ['sbp', 132, 'Observation/x#component[0]'],
      ['dbp', 84, 'Observation/x#component[1]'],
    ]);
    expect(unresolvedMembers).toEqual(['Observation/missing']);
  });

  test('level of consciousness as AVPU', () => {
    const { samples, ignored } = extractSamples([
      avpu('Alert', 0),
      { ...avpu('x', 1), valueCodeableConcept: { coding: [{ code: 'V', display: 'Voice' }] } },
      avpu('sleepy', 2),
      { ...avpu('x', 3), valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '450847001' }] } },
    ]);
    expect(samples.map((s) => s.avpu)).toEqual(['A', 'V', 'P']);
    expect(ignored[0].reason).toContain('not an AVPU answer');
  });

  test('high-frequency series: period, origin and factor; E skipped; L/U at the detection limit', () => {
    const series = spo2Series('97 96 E 95 L', 0, 1000, { lowerLimit: 70 });
    const { samples } = extractSamples([series]);
    expect(samples.map((s) => [s.value, s.time, s.beyondLimit])).toEqual([
      [97, at(0), undefined],
      [96, new Date(Date.parse(at(0)) + 1000).toISOString(), undefined],
      [95, new Date(Date.parse(at(0)) + 3000).toISOString(), undefined],
      [70, new Date(Date.parse(at(0)) + 4000).toISOString(), 'below'],
    ]);
    const scaled = spo2Series('80 90', 0, 500, { origin: { value: 50, code: '%', system: 'http://unitsofmeasure.org' }, factor: 0.5 });
    expect(extractSamples([scaled]).samples.map((s) => s.value)).toEqual([90, 95]);
    const twoD = spo2Series('97 60 96 61', 0, 1000, { dimensions: 2 });
    expect(extractSamples([twoD]).ignored[0].reason).toContain('2 dimensions');
  });
});

describe('latestVitalSet', () => {
  test('the latest value per parameter within the window; older ones are stale', () => {
    const { samples } = extractSamples([hr(80, 0), hr(96, 20), temp(37.1, 0), spo2(97, 50), rr(18, 75)]);
    const { set, stale, at: when } = latestVitalSet(samples, { windowMinutes: 60 });
    expect(when).toBe(at(75));
    expect(set.hr).toMatchObject({ value: 96, time: at(20) });
    expect(set.spo2?.value).toBe(97);
    expect(set.rr?.value).toBe(18);
    expect(set.temp).toBeUndefined();
    expect(stale).toEqual(['temp']);
  });

  test('for a series, the worst sample of its last minute (by NEWS2 score), not only the last one', () => {
    const series = spo2Series('97 96 91 95 96', 0, 5000);
    const { set } = latestVitalSet(extractSamples([series]).samples);
    expect(set.spo2).toMatchObject({ value: 91, worstOfSeries: true });
  });

  test('oxygen from flow rate or inspired concentration', () => {
    const flow = vital('3151-8', 2, 'L/min', 0);
    const { set } = latestVitalSet(extractSamples([flow, spo2(95, 0)]).samples);
    expect(set.onOxygen).toMatchObject({ value: true });
    const air = vital('3150-0', 21, '%', 1);
    expect(latestVitalSet(extractSamples([flow, air]).samples).set.onOxygen?.value).toBe(false);
  });

  test('nothing to assess', () => {
    expect(latestVitalSet([])).toEqual({ set: {}, stale: [], at: undefined });
  });
});
