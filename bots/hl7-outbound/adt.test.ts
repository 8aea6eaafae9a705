import type { Encounter, Location, Patient, Practitioner } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { validateMessage } from '../../hl7-bridge/hl7v2/validate.ts';
import { planAdt } from '../hl7-inbound/adt.ts';
import { adtEvent, buildAdt } from './adt.ts';
import { controlIdFor } from './datatypes.ts';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [
    {
      system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP',
      value: '000123',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
    },
    { system: 'urn:oid:1.2.3', value: 'X|1' },
  ],
  name: [{ family: "O'Brien & Sons", given: ['Mary', 'Kate'], use: 'official' }],
  birthDate: '1975-03-01',
  gender: 'female',
  address: [{ line: ['400 Elm St'], city: 'Springfield', state: 'IL', postalCode: '62701', use: 'home' }],
  telecom: [{ system: 'phone', value: '217-555-0000', use: 'home' }],
};
const encounter: Encounter = {
  resourceType: 'Encounter',
  id: 'e1',
  meta: { versionId: 'v2', lastUpdated: '2026-01-05T13:15:30.000Z' },
  identifier: [{ system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', value: 'V1', type: { coding: [{ code: 'VN' }] } }],
  status: 'in-progress',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
  subject: { reference: 'Patient/p1' },
  location: [{ location: { reference: 'Location/l1', display: 'ED BAY04 A' }, status: 'active' }],
  participant: [{ type: [{ coding: [{ code: 'ATND' }] }], individual: { reference: 'Practitioner/d1' } }],
  period: { start: '2026-01-05T08:10:00-05:00' },
  reasonCode: [{ text: 'Chest pain' }],
};
const location: Location = {
  resourceType: 'Location',
  identifier: [{ system: 'https://emergisphere.dev/fhir/sid/hl7v2-location', value: 'GENHOSP^ED^BAY04^A' }],
};
const attending: Practitioner = {
  resourceType: 'Practitioner',
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234' }],
  name: [{ family: 'House', given: ['Gregory'] }],
};
const sender = { application: 'EMERGISPHERE', facility: 'ED' };

describe('which ADT event', () => {
  const at = (status: Encounter['status']): Encounter => ({ ...encounter, status });
  test.each([
    ['created arrived', at('arrived'), undefined, 'A01'],
    ['created in progress', at('in-progress'), undefined, 'A01'],
    ['created planned', at('planned'), undefined, undefined],
    ['created finished', at('finished'), undefined, 'A03'],
    ['discharged', at('finished'), at('in-progress'), 'A03'],
    ['planned → arrived is the admit', at('arrived'), at('planned'), 'A01'],
    ['updated while in progress', at('in-progress'), at('in-progress'), 'A08'],
    ['triaged', at('triaged'), at('arrived'), 'A08'],
    ['a planned visit updated', at('planned'), at('planned'), undefined],
  ] as const)('%s', (_name, current, previous, expected) => {
    expect(adtEvent(current, previous)).toBe(expected);
  });
});

describe('Encounter + Patient → ADT', () => {
  const text = buildAdt('A01', encounter, patient, { location, attending }, sender, controlIdFor('Encounter/e1/_history/v2:A01'));
  const msg = Message.parse(text);
  test('a valid ADT^A01 our own validator accepts, with a deterministic MSH-10', () => {
    expect(validateMessage(text).code).toBe('AA');
    expect(msg.header.field(9)).toBe('ADT^A01^ADT_A01');
    expect(msg.controlId).toBe(controlIdFor('Encounter/e1/_history/v2:A01'));
    expect(msg.controlId.length).toBeLessThanOrEqual(20);
    expect(msg.get('MSH-7')).toBe('20260105131530.000+0000');
    expect(msg.get('MSH-5')).toBe('');
  });
  test('PID and PV1 fields, escaped where needed', () => {
    expect(msg.get('PID-3.1')).toBe('000123');
    expect(msg.get('PID-3.4')).toBe('GENHOSP');
    expect(msg.get('PID-3[2].1')).toBe('X|1');
    expect(msg.get('PID-3[2].4.2')).toBe('1.2.3');
    expect(msg.get('PID-5.1')).toBe("O'Brien & Sons");
    expect(msg.get('PID-7')).toBe('19750301');
    expect(msg.get('PV1-2')).toBe('E');
    expect(msg.get('PV1-3')).toBe('ED');
    expect(msg.get('PV1-3.3')).toBe('A');
    expect(msg.get('PV1-7.2')).toBe('House');
    expect(msg.get('PV1-19.1')).toBe('V1');
    expect(msg.get('PV1-44')).toBe('20260105081000-0500');
    expect(msg.get('PV2-3.9')).toBe('Chest pain');
  });
  test('our inbound converter reads it back to the same patient and encounter', () => {
    const plan = planAdt(msg, { timezone: 'UTC' });
    const back = plan.upserts.find((u) => u.resourceType === 'Patient')?.resource as Patient;
    expect(back.identifier?.map((i) => [i.system, i.value])).toEqual([
      ['https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', '000123'],
      ['urn:oid:1.2.3', 'X|1'],
    ]);
    expect(back.name?.[0]).toEqual(patient.name?.[0]);
    expect(back.address?.[0]).toMatchObject({ line: ['400 Elm St'], city: 'Springfield', use: 'home' });
    const e = plan.upserts.find((u) => u.resourceType === 'Encounter');
    expect(e?.identifier).toMatchObject({ system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', value: 'V1' });
    expect((e?.resource as Encounter | undefined)?.class.code).toBe('EMER');
  });
  test('A03 uses the ADT_A03 structure and carries the end', () => {
    const done = Message.parse(
      buildAdt(
        'A03',
        {
          ...encounter,
          status: 'finished',
          period: { ...encounter.period, end: '2026-01-05T12:00:00-05:00' },
          hospitalization: {
            dischargeDisposition: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code: 'aadvice' }] },
          },
        },
        patient,
        {},
        sender,
        'X',
      ),
    );
    expect(done.header.field(9)).toBe('ADT^A03^ADT_A03');
    expect(done.get('PV1-45')).toBe('20260105120000-0500');
    // Left against advice, in the receiver's table 0112.
    expect(done.segment('PV1')?.field(36)).toBe('07^^HL70112');
  });
});
