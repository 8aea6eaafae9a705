// The hl7-inbound bot deployed to the real server and run through $execute with HL7 content, as
// the bridge (or any Medplum client) runs it: it acts with its own least-privilege role.
import { resolve } from 'node:path';
import type { Account, Appointment, ChargeItem, DiagnosticReport, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { splitBatch } from '../../hl7-bridge/hl7v2/batch.ts';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

const BOT = { system: 'https://emergisphere.dev/fhir/bot', value: 'hl7-inbound' };
const SID = 'https://emergisphere.dev/fhir/sid/hl7v2/';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  await deployBots(t.medplum, { rootDir: resolve(import.meta.dirname, '../..'), only: ['hl7-inbound'] });
});

afterAll(async () => {
  await t?.close();
});

async function execute(text: string): Promise<Message[]> {
  const reply = String(await t.medplum.executeBot(BOT, text, 'x-application/hl7-v2+er7'));
  return splitBatch(reply).messages.map((m) => Message.parse(m));
}

async function one<T extends 'Patient' | 'Encounter' | 'Appointment' | 'DiagnosticReport' | 'Account'>(type: T, identifier: string) {
  const found = await t.medplum.searchResources(type, { identifier }, { cache: 'no-cache' });
  expect(found).toHaveLength(1);
  return found[0];
}

async function versionCount(type: string, id: string): Promise<number> {
  const history = await t.medplum.get(t.medplum.fhirUrl(type, id, '_history'), { cache: 'no-cache' });
  return (history as { entry?: unknown[] }).entry?.length ?? 0;
}

describe('ADT through the real server', () => {
  test('A01 → Patient + emergency Encounter (+ Location, Practitioner, allergy)', async () => {
    const [ack] = await execute(corpus.adtA01);
    expect(ack.get('MSA-1')).toBe('AA');
    const patient = (await one('Patient', `${SID}GENHOSP|000123456`)) as Patient;
    expect(patient.name?.[0]).toMatchObject({ family: "O'Brien", given: ['Mary', 'Kate'] });
    const encounter = (await one('Encounter', `${SID}GENHOSP|V00098765`)) as Encounter;
    expect(encounter).toMatchObject({ status: 'in-progress', class: { code: 'EMER' }, subject: { reference: `Patient/${patient.id}` } });
    expect(encounter.location?.[0].location.reference).toMatch(/^Location\//);
    expect(encounter.meta?.tag).toContainEqual({ system: 'https://emergisphere.dev/fhir/hl7v2-message', code: 'EPIC^GENHOSP^MSG00001' });
    const allergies = await t.medplum.searchResources('AllergyIntolerance', { patient: `Patient/${patient.id}` }, { cache: 'no-cache' });
    expect(allergies).toHaveLength(1);
  });

  test('the same message again writes nothing new', async () => {
    const patient = (await one('Patient', `${SID}GENHOSP|000123456`)) as Patient & { id: string };
    const encounter = (await one('Encounter', `${SID}GENHOSP|V00098765`)) as Encounter & { id: string };
    const before = [await versionCount('Patient', patient.id), await versionCount('Encounter', encounter.id)];
    expect((await execute(corpus.adtA01))[0].get('MSA-1')).toBe('AA');
    expect([await versionCount('Patient', patient.id), await versionCount('Encounter', encounter.id)]).toEqual(before);
  });

  test('A02 transfer, A03 discharge, A13 cancel discharge, A08 update keep one Encounter', async () => {
    for (const text of [corpus.adtA02, corpus.adtA03]) expect((await execute(text))[0].get('MSA-1')).toBe('AA');
    let encounter = (await one('Encounter', `${SID}GENHOSP|V00098765`)) as Encounter;
    expect(encounter.status).toBe('finished');
    expect(encounter.period?.end).toBe('2026-01-05T17:55:00-05:00');
    expect(encounter.location?.map((l) => [l.location.display, l.status])).toEqual([
      ['ED BAY01 1', 'completed'],
      ['ED BAY05 1', 'active'],
    ]);
    expect((await execute(corpus.adtA13))[0].get('MSA-1')).toBe('AA');
    encounter = (await one('Encounter', `${SID}GENHOSP|V00098765`)) as Encounter;
    expect(encounter.status).toBe('in-progress');
    expect(encounter.period?.end).toBeUndefined();
    expect((await execute(corpus.adtA08v27))[0].get('MSA-1')).toBe('AA');
    const patient = (await one('Patient', `${SID}GENHOSP|000123456`)) as Patient;
    expect(patient.address?.[0].line).toEqual(['Unit #12']);
    expect(patient.name?.[0].given).toEqual(['Mary']);
  });

  test('A04 of an ED patient arrives; A11 cancels a visit', async () => {
    await execute(corpus.adtA04Utf8);
    const e = (await one('Encounter', `${SID}MCM|V2001`)) as Encounter;
    expect(e.status).toBe('arrived');
    expect(((await one('Patient', `${SID}MCM|556677`)) as Patient).name?.[0]).toMatchObject({ family: 'Müller', given: ['José', 'Ñandú'] });
    await execute(corpus.adtA11);
    expect(((await one('Encounter', `${SID}GENHOSP|V00077777`)) as Encounter).status).toBe('cancelled');
  });

  test('A40 links the patients and moves the merged patient’s records', async () => {
    const old = corpus.adtA04Utf8
      .replaceAll('556677^^^MCM^MR', '000999^^^GENHOSP^MR')
      .replace('V2001^^^MCM^VN', 'V999^^^GENHOSP^VN')
      .replace('MSG00002', 'OLD1');
    await execute(old);
    const oldPatient = (await one('Patient', `${SID}GENHOSP|000999`)) as Patient & { id: string };
    const oldEncounter = (await one('Encounter', `${SID}GENHOSP|V999`)) as Encounter & { id: string };
    expect((await execute(corpus.adtA40))[0].get('MSA-1')).toBe('AA');
    const survivor = (await one('Patient', `${SID}GENHOSP|000123456`)) as Patient;
    const merged = await t.medplum.readResource('Patient', oldPatient.id, { cache: 'no-cache' });
    expect(merged).toMatchObject({ active: false, link: [{ other: { reference: `Patient/${survivor.id}` }, type: 'replaced-by' }] });
    expect(survivor.link).toEqual([{ other: { reference: `Patient/${oldPatient.id}` }, type: 'replaces' }]);
    expect((await t.medplum.readResource('Encounter', oldEncounter.id, { cache: 'no-cache' })).subject?.reference).toBe(
      `Patient/${survivor.id}`,
    );
    const again = await versionCount('Patient', oldPatient.id);
    await execute(corpus.adtA40);
    expect(await versionCount('Patient', oldPatient.id)).toBe(again);
  });
});

describe('ORU, SIU, DFT, BAR through the real server', () => {
  test('ORU^R01 → Observations and a DiagnosticReport', async () => {
    expect((await execute(corpus.oruLab))[0].get('MSA-1')).toBe('AA');
    const report = (await one('DiagnosticReport', `${SID}LAB|LAB5001`)) as DiagnosticReport;
    expect(report.result).toHaveLength(12);
    const glucose = (await t.medplum.readReference(report.result?.[0] as { reference: string })) as Observation;
    expect(glucose).toMatchObject({
      status: 'final',
      valueQuantity: { value: 182, unit: 'mg/dL' },
      encounter: { reference: expect.stringMatching(/^Encounter\//) },
    });
    expect((await execute(corpus.oruVitals))[0].get('MSA-1')).toBe('AA');
    const vitals = await t.medplum.searchResources(
      'Observation',
      { category: 'vital-signs', code: 'http://loinc.org|8867-4' },
      { cache: 'no-cache' },
    );
    expect(vitals[0].valueQuantity?.value).toBe(128);
  });

  test('SIU S12 → S15 keep one Appointment through its life', async () => {
    for (const text of [corpus.siuS12, corpus.siuS13, corpus.siuS14]) expect((await execute(text))[0].get('MSA-1')).toBe('AA');
    let a = (await one('Appointment', `${SID}CADENCE|APT100`)) as Appointment;
    expect(a).toMatchObject({ status: 'booked', start: '2026-01-13T14:00:00-05:00', minutesDuration: 45 });
    await execute(corpus.siuS15);
    a = (await one('Appointment', `${SID}CADENCE|APT100`)) as Appointment;
    expect(a.status).toBe('cancelled');
    await execute(corpus.siuS26);
    expect(((await one('Appointment', `${SID}CADENCE|APT200`)) as Appointment).status).toBe('noshow');
  });

  test('DFT^P03 → ChargeItems on the Account; BAR^P01 → the Account', async () => {
    expect((await execute(corpus.dftP03))[0].get('MSA-1')).toBe('AA');
    const account = (await one('Account', `${SID}GENHOSP|ACC7001`)) as Account;
    const charges = (await t.medplum.searchResources(
      'ChargeItem',
      { account: `Account/${account.id}` },
      { cache: 'no-cache' },
    )) as ChargeItem[];
    expect(charges.map((c) => c.priceOverride?.value).sort()).toEqual([1450, 85.5]);
    expect((await execute(corpus.barP01))[0].get('MSA-1')).toBe('AA');
  });

  test('a headerless batch in one $execute: one ACK per message', async () => {
    const acks = await execute(corpus.siuS12.replace('MSG00011', 'B-1') + corpus.customDelimiters.replace('MSG00019', 'B-2'));
    expect(acks.map((a) => a.get('MSA-2'))).toEqual(['B-1', 'B-2']);
  });
});
