import type { AllergyIntolerance, Encounter, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { planAdt } from './adt.ts';
import type { MessagePlan, Upsert } from './plan.ts';

const TZ = { timezone: 'America/Chicago' };

function find<T>(plan: MessagePlan, type: string): Upsert & { resource: T } {
  const u = plan.upserts.find((x) => x.resourceType === type);
  if (!u) throw new Error(`no ${type} in the plan`);
  return u as Upsert & { resource: T };
}

describe('ADT^A01 emergency admit', () => {
  const plan = planAdt(Message.parse(corpus.adtA01), TZ);
  const patient = find<Patient>(plan, 'Patient');
  const encounter = find<Encounter>(plan, 'Encounter');

  test('Patient from PID (IG PID[Patient]), merged into what exists', () => {
    expect(patient.mode).toBe('merge');
    expect(patient.identifier).toMatchObject({ system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', value: '000123456' });
    const p = patient.resource;
    expect(p.identifier?.map((i) => [i.system, i.value])).toEqual([
      ['https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', '000123456'],
      ['http://hl7.org/fhir/sid/us-ssn', '987-65-4320'],
    ]);
    expect(p.name).toEqual([
      { family: "O'Brien", given: ['Mary', 'Kate'], prefix: ['Mrs'], use: 'official' },
      { family: 'Smith', given: ['Mary'], use: 'maiden' },
    ]);
    expect(p.birthDate).toBe('1975-03-01');
    expect(p.gender).toBe('female');
    expect(p.address?.[0]).toMatchObject({ line: ['400 Elm St'], city: 'Springfield', use: 'home' });
    expect(p.telecom).toEqual([
      { system: 'phone', value: '(217) 5550000', use: 'home' },
      { system: 'phone', value: '(217) 5559999', use: 'work' },
    ]);
    expect(p.communication?.[0].language.coding?.[0]).toMatchObject({ system: 'urn:ietf:bcp:47', code: 'en' });
    expect(p.maritalStatus?.coding?.[0]).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' });
    expect(p.deceasedBoolean).toBe(false);
    expect(p.contact?.[0]).toMatchObject({
      name: { family: "O'Brien", given: ['Patrick'] },
      relationship: [{ coding: [{ code: 'SPO' }] }],
    });
  });

  test('Encounter from PV1 (IG PV1[Encounter]): class EMER starts the emergency workflow', () => {
    const e = encounter.resource;
    expect(encounter.identifier).toMatchObject({ value: 'V00098765', type: { coding: [{ code: 'VN' }] } });
    expect(e.class).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER', display: 'emergency' });
    expect(e.status).toBe('in-progress');
    expect(e.subject?.reference).toBe(`local:${patient.key}`);
    expect(e.period).toEqual({ start: '2026-01-05T08:10:00-05:00' });
    expect(e.location).toEqual([{ location: expect.objectContaining({ display: 'ED BAY01 1' }), status: 'active' }]);
    expect(e.extension).toEqual([
      {
        url: 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival',
        valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0430', code: 'A', display: 'Ambulance' },
      },
    ]);
    // The bed is part of the ED area (ES convention), both created only when unknown.
    const locations = plan.upserts.filter((u) => u.resourceType === 'Location');
    expect(locations.map((l) => [l.identifier.value, (l.resource as { partOf?: { reference?: string } }).partOf?.reference])).toEqual([
      ['GENHOSP^ED^^', undefined],
      ['GENHOSP^ED^BAY01^1', 'local:Location|https://emergisphere.dev/fhir/sid/hl7v2-location|GENHOSP^ED^^'],
    ]);
    expect(e.participant?.[0].type?.[0].coding?.[0].code).toBe('ATND');
    expect(e.reasonCode?.[0]).toMatchObject({
      coding: [{ code: 'R07.9', system: 'http://hl7.org/fhir/sid/icd-10' }],
      text: 'Chest pain & shortness of breath',
    });
    expect(
      plan.upserts.filter((u) => u.resourceType === 'Location' || u.resourceType === 'Practitioner').every((u) => u.mode === 'create-only'),
    ).toBe(true);
  });

  test('AL1 → AllergyIntolerance', () => {
    const a = find<AllergyIntolerance>(plan, 'AllergyIntolerance').resource;
    expect(a.code?.coding?.[0]).toMatchObject({ code: '70618', display: 'Penicillin' });
    expect(a.category).toEqual(['medication']);
    expect(a.criticality).toBe('high');
    expect(a.reaction?.[0].manifestation[0].text).toBe('Hives');
  });

  test('the message is named for the provenance tag and its time for staleness', () => {
    expect(plan.source).toBe('EPIC^GENHOSP^MSG00001');
    expect(plan.messageTime).toBe('2026-01-05T13:15:30.000Z');
  });
});

describe('status by event (IG Event[EncounterStatus])', () => {
  const status = (text: string) => find<Encounter>(planAdt(Message.parse(text), TZ), 'Encounter').resource.status;
  test('A04 of an emergency patient is an arrival; of an outpatient, planned', () => {
    expect(status(corpus.adtA04Utf8)).toBe('arrived');
    expect(status(corpus.adtA04Utf8.replace('PV1|1|E|', 'PV1|1|O|'))).toBe('planned');
  });
  test('A02 in-progress with the prior location completed', () => {
    const e = find<Encounter>(planAdt(Message.parse(corpus.adtA02), TZ), 'Encounter').resource;
    expect(e.status).toBe('in-progress');
    expect(e.location?.map((l) => [l.location.display, l.status])).toEqual([
      ['ED BAY05 1', 'active'],
      ['ED BAY01 1', 'completed'],
    ]);
  });
  test('A03 finished with the discharge time and disposition', () => {
    const e = find<Encounter>(planAdt(Message.parse(corpus.adtA03), TZ), 'Encounter').resource;
    expect(e.status).toBe('finished');
    expect(e.period?.end).toBe('2026-01-05T17:55:00-05:00');
    expect(e.hospitalization?.dischargeDisposition?.coding?.map((c) => c.code)).toEqual(['home', '01']);
  });
  test('A03 without PV1-45 ends at EVN-2', () => {
    const text = corpus.adtA03.replace('|20260105081000-0500|20260105175500-0500', '|20260105081000-0500|');
    expect(find<Encounter>(planAdt(Message.parse(text), TZ), 'Encounter').resource.period?.end).toBe('2026-01-05T18:00:00-05:00');
  });
  test('A08 leaves the status alone (unknown only when the visit is new)', () => {
    const u = find<Encounter>(planAdt(Message.parse(corpus.adtA08Latin1), TZ), 'Encounter');
    expect(u.resource.status).toBeUndefined();
    expect(u.defaults).toEqual({ status: 'unknown' });
  });
  test('A11 cancelled, A13 back in progress with the discharge undone', () => {
    expect(status(corpus.adtA11)).toBe('cancelled');
    const u = find<Encounter>(planAdt(Message.parse(corpus.adtA13), TZ), 'Encounter');
    expect(u.resource.status).toBe('in-progress');
    expect(u.clear).toEqual(['period.end', 'hospitalization.dischargeDisposition']);
  });
  test('A40 plans the survivor and a merge step', () => {
    const plan = planAdt(Message.parse(corpus.adtA40), TZ);
    expect(plan.upserts.map((u) => u.resourceType)).toEqual(['Patient']);
    expect(plan.merge?.old).toEqual([expect.objectContaining({ value: '000999' })]);
  });
});

describe('HL7 nulls and missing data', () => {
  test('"" clears the element; empty leaves it alone', () => {
    const text = corpus.adtA08Latin1.replace(
      'PID|1||556677^^^MCM^MR||Ørsted^Zoë||19900607|F',
      'PID|1||556677^^^MCM^MR||Ørsted^Zoë||""|F|||""',
    );
    const p = find<Patient>(planAdt(Message.parse(text), TZ), 'Patient');
    expect(p.clear).toEqual(['birthDate', '_birthDate', 'address']);
    expect(p.resource.birthDate).toBeUndefined();
  });
  test('a birth time is kept as the birthTime extension', () => {
    const text = corpus.adtA08Latin1.replace('||19900607|F', '||199006070830|F');
    const p = find<Patient>(planAdt(Message.parse(text), { timezone: '+0100' }), 'Patient').resource as Patient & { _birthDate?: unknown };
    expect(p.birthDate).toBe('1990-06-07');
    expect(p._birthDate).toEqual({
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1990-06-07T08:30:00+01:00' }],
    });
  });
  test('identifiers without an assigning authority belong to the sending facility', () => {
    const p = find<Patient>(planAdt(Message.parse(corpus.adtA01.replace('000123456^^^GENHOSP^MR', '777^^^^MR')), TZ), 'Patient');
    expect(p.identifier.system).toBe('https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP');
  });
  test('no visit number and no account number: AE naming PV1-19', () => {
    const text = corpus.adtA11.replace('V00077777^^^GENHOSP^VN', '');
    expect(() => planAdt(Message.parse(text), TZ)).toThrow(/PV1-19/);
  });
});
