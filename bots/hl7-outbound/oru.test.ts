import type { DiagnosticReport, Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { validateMessage } from '../../hl7-bridge/hl7v2/validate.ts';
import { planOru } from '../hl7-inbound/oru.ts';
import { buildOru } from './oru.ts';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', value: '000123' }],
};
const base = {
  resourceType: 'Observation' as const,
  status: 'final' as const,
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2026-01-05T08:29:00-05:00',
};
const observations: Observation[] = [
  {
    ...base,
    id: 'o1',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    valueQuantity: { value: 128, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    interpretation: [{ coding: [{ code: 'H' }] }],
    referenceRange: [{ low: { value: 60 }, high: { value: 100 } }],
  },
  { ...base, id: 'o2', code: { coding: [{ system: 'http://loinc.org', code: '5778-6' }] }, valueString: 'Amber\nclear' },
  {
    ...base,
    id: 'o3',
    code: { coding: [{ system: 'http://loinc.org', code: '5770-3' }] },
    valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009', display: 'Negative' }] },
  },
  {
    ...base,
    id: 'o4',
    code: { coding: [{ system: 'http://loinc.org', code: '2857-1' }] },
    valueQuantity: { value: 4, comparator: '<', unit: 'ng/mL' },
  },
  {
    ...base,
    id: 'o5',
    code: { coding: [{ system: 'http://loinc.org', code: '5048-4' }] },
    valueRatio: { numerator: { value: 1 }, denominator: { value: 128 } },
  },
  {
    ...base,
    id: 'o6',
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
    component: [
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
        valueQuantity: { value: 150, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      },
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] },
        valueQuantity: { value: 95, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      },
    ],
  },
];
const report: DiagnosticReport = {
  resourceType: 'DiagnosticReport',
  id: 'r1',
  meta: { lastUpdated: '2026-01-05T13:30:00.000Z' },
  identifier: [{ value: 'R-77', type: { coding: [{ code: 'FILL' }] } }],
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '85353-1', display: 'Vital signs panel' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2026-01-05T08:29:00-05:00',
};

describe('Observations → ORU^R01', () => {
  const text = buildOru({ observations, patient, report }, { application: 'EMERGISPHERE', facility: 'ED' }, 'EOTEST1');
  const msg = Message.parse(text);
  test('valid ORU^R01 with one OBR and one OBX per result or component', () => {
    expect(validateMessage(text)).toMatchObject({ code: 'AA', errors: [] });
    expect(msg.get('OBR-3')).toBe('R-77');
    expect(msg.get('OBR-4')).toBe('85353-1');
    expect(msg.get('OBR-25')).toBe('F');
    expect(msg.all('OBX').map((o) => [o.value(2), o.value(3), o.value(4)])).toEqual([
      ['NM', '8867-4', ''],
      ['TX', '5778-6', ''],
      ['CWE', '5770-3', ''],
      ['SN', '2857-1', ''],
      ['SN', '5048-4', ''],
      ['NM', '8480-6', '1'],
      ['NM', '8462-4', '2'],
    ]);
    expect(msg.segment('OBX')?.field(7)).toBe('60-100');
  });
  test('our inbound converter reads the values back', () => {
    const plan = planOru(msg, { timezone: 'UTC' });
    const obs = plan.upserts.filter((u) => u.resourceType === 'Observation').map((u) => u.resource as Observation);
    expect(obs[0]).toMatchObject({
      status: 'final',
      valueQuantity: { value: 128, code: '/min', system: 'http://unitsofmeasure.org' },
      interpretation: [{ coding: [{ code: 'H' }] }],
    });
    expect(obs[0].effectiveDateTime).toBe('2026-01-05T08:29:00-05:00');
    expect(obs[1].valueString).toBe('Amber\nclear');
    expect(obs[2].valueCodeableConcept?.coding?.[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '260385009' });
    expect(obs[3].valueQuantity).toMatchObject({ value: 4, comparator: '<' });
    expect(obs[4].valueRatio).toEqual({ numerator: { value: 1 }, denominator: { value: 128 } });
    expect(obs[5].valueQuantity?.value).toBe(150);
  });
});
