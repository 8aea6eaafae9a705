import type { DiagnosticReport, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { planOru } from './oru.ts';

const plan = planOru(Message.parse(corpus.oruLab), { timezone: 'UTC' });
const observations = plan.upserts.filter((u) => u.resourceType === 'Observation').map((u) => u.resource as Observation);
const byCode = (code: string) => observations.find((o) => o.code.coding?.[0].code === code) as Observation;

describe('ORU^R01 → Observations (IG OBX[Observation])', () => {
  test('one Observation per OBX, keyed by order number + code, merged', () => {
    expect(observations).toHaveLength(12);
    const glucose = plan.upserts.find((u) => u.resourceType === 'Observation');
    expect(glucose?.mode).toBe('merge');
    expect(glucose?.identifier.value).toBe('https://emergisphere.dev/fhir/sid/hl7v2/LAB^LAB5001^LN^2345-7^');
  });

  test('NM → Quantity with UCUM units, reference range, interpretation, status, effective time', () => {
    expect(byCode('2345-7')).toMatchObject({
      status: 'final',
      valueQuantity: { value: 182, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
      referenceRange: [{ text: '70-99', low: { value: 70, unit: 'mg/dL' }, high: { value: 99 } }],
      interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
      effectiveDateTime: '2026-01-05T08:45:00-05:00',
      category: [{ coding: [{ code: 'laboratory' }] }],
    });
    expect(byCode('2823-3').status).toBe('corrected');
    expect(byCode('1920-8').valueQuantity?.value).toBe(35);
  });

  test('every value type: ST, CWE, SN ratio and comparator, NR, DTM, TX with formatting', () => {
    expect(byCode('5778-6')).toMatchObject({ status: 'preliminary', valueString: 'Amber' });
    expect(byCode('5770-3').valueCodeableConcept?.coding?.[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '260385009' });
    expect(byCode('5048-4').valueRatio).toEqual({ numerator: { value: 1 }, denominator: { value: 128 } });
    expect(byCode('2857-1').valueQuantity).toMatchObject({ value: 4, comparator: '<', unit: 'ng/mL' });
    expect(byCode('1234-5').valueRange).toMatchObject({ low: { value: 3.5 }, high: { value: 5 } });
    expect(byCode('11778-8').valueDateTime).toBe('2026-03-01');
    expect(byCode('18748-4').valueString).toBe('First line\nSecond line \\ backslash');
  });

  test('OBX-11 X / N / D: data absent reasons and entered-in-error; NTE → note', () => {
    expect(byCode('2951-2')).toMatchObject({ status: 'cancelled', dataAbsentReason: { coding: [{ code: 'cannot-be-obtained' }] } });
    expect(byCode('2951-2').valueQuantity).toBeUndefined();
    expect(byCode('2075-0')).toMatchObject({ status: 'cancelled', dataAbsentReason: { coding: [{ code: 'not-asked' }] } });
    expect(byCode('1920-8')).toMatchObject({ status: 'entered-in-error', note: [{ text: 'Hemolyzed specimen' }] });
  });

  test('DiagnosticReport (IG OBR[DiagnosticReport]) with its results, the patient create-only, the encounter only if known', () => {
    const report = plan.upserts.find((u) => u.resourceType === 'DiagnosticReport');
    const r = report?.resource as DiagnosticReport;
    expect(report?.identifier).toMatchObject({ value: 'LAB5001', type: { coding: [{ code: 'FILL' }] } });
    expect(r.identifier?.[1]).toMatchObject({ value: 'ORD1001', type: { coding: [{ code: 'PLAC' }] } });
    expect(r.status).toBe('final');
    expect(r.code.coding?.[0].code).toBe('24323-8');
    expect(r.result).toHaveLength(12);
    expect(r.issued).toBe('2026-01-05T14:29:00.000Z');
    expect(plan.upserts.find((u) => u.resourceType === 'Patient')?.mode).toBe('create-only');
    expect(plan.upserts.find((u) => u.resourceType === 'Encounter')?.mode).toBe('reference-only');
    expect(observations.every((o) => o.encounter?.reference?.startsWith('local:Encounter|'))).toBe(true);
  });

  test('vital signs are categorized vital-signs', () => {
    const vitals = planOru(Message.parse(corpus.oruVitals), { timezone: 'UTC' });
    const hr = vitals.upserts.find((u) => (u.resource as Observation).code?.coding?.[0].code === '8867-4')?.resource as Observation;
    expect(hr.category?.[0].coding?.[0].code).toBe('vital-signs');
    expect(hr.valueQuantity).toMatchObject({ value: 128, code: '/min' });
    expect(hr.encounter).toBeUndefined();
  });

  test('repeating OBX-5 becomes components', () => {
    const text = corpus.oruVitals.replace('||128|/min', '||128~131|/min');
    const hr = planOru(Message.parse(text)).upserts.find((u) => (u.resource as Observation).code?.coding?.[0].code === '8867-4')
      ?.resource as Observation;
    expect(hr.component?.map((c) => c.valueQuantity?.value)).toEqual([128, 131]);
    expect(hr.valueQuantity).toBeUndefined();
  });
});
