// Outbound on real parts: FHIR writes on our server → the hl7-outbound bot through its real
// Subscriptions → the bridge's durable outbound queue → MLLP to a fake legacy system (a local MLLP
// endpoint) that ACKs, NAKs, stays silent or answers for the wrong message, as each test tells it.
import type { Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MllpClient } from '../../hl7-bridge/mllp/client.ts';
import type { OutboundRow } from '../../hl7-bridge/store/outbound-store.ts';
import { adtA01 } from '../../hl7-bridge/test-corpus/messages.ts';
import { type FakeLegacy, startFakeLegacy } from '../../hl7-bridge/test-support/mllp.ts';
import { type Stack, startStack, waitFor } from '../../hl7-bridge/test-support/stack.ts';

let legacy: FakeLegacy;
let s: Stack;

beforeAll(async () => {
  legacy = await startFakeLegacy();
  s = await startStack({
    bots: ['hl7-inbound', 'hl7-outbound'],
    channels: {
      destinations: [
        {
          name: 'ehr',
          host: '127.0.0.1',
          port: legacy.port,
          receivingApplication: 'LEGACY',
          receivingFacility: 'HOSP',
          ackTimeoutMs: 400,
          maxAttempts: 3,
          backoffInitialMs: 100,
          backoffMaxMs: 300,
        },
      ],
    },
  });
}, 120_000);

afterAll(async () => {
  await s?.close();
  await legacy?.close();
});

let mrn = 0;
async function newPatient(): Promise<Patient & { id: string }> {
  mrn++;
  return (await s.t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    identifier: [
      {
        system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP',
        value: `OUT${mrn}`,
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      },
    ],
    name: [{ family: 'Outbound', given: [`Pat${mrn}`] }],
    gender: 'female',
    birthDate: '1980-01-01',
  })) as Patient & { id: string };
}

async function newEncounter(
  patient: Patient & { id: string },
  visit: string,
  status: Encounter['status'] = 'arrived',
): Promise<Encounter & { id: string }> {
  return (await s.t.medplum.createResource<Encounter>({
    resourceType: 'Encounter',
    identifier: [{ system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', value: visit, type: { coding: [{ code: 'VN' }] } }],
    status,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    period: { start: '2026-01-05T08:00:00-05:00' },
  })) as Encounter & { id: string };
}

/** What the legacy system accepted for a visit number, as event codes in arrival order. */
const acceptedFor = (visit: string) => legacy.accepted.filter((m) => m.get('PV1-19') === visit).map((m) => m.typeName);
const receivedFor = (visit: string) => legacy.received.filter((m) => m.get('PV1-19') === visit);

async function outbound(status: string): Promise<OutboundRow[]> {
  return (await s.api<{ entries: OutboundRow[] }>(`hl7/outbound?status=${status}&_count=500`)).body.entries;
}

describe('FHIR changes → ADT for legacy systems', () => {
  test('admit, update, discharge → A01, A08, A03 in order, addressed to the destination, ACKs checked', async () => {
    const patient = await newPatient();
    const encounter = await newEncounter(patient, 'VOUT-1');
    await waitFor('A01', async () => acceptedFor('VOUT-1').length === 1);
    const triaged = await s.t.medplum.updateResource<Encounter>({
      ...encounter,
      status: 'triaged',
      priority: { coding: [{ code: 'EM' }] },
    });
    await waitFor('A08', async () => acceptedFor('VOUT-1').length === 2);
    await s.t.medplum.updateResource<Encounter>({
      ...triaged,
      status: 'finished',
      period: { ...triaged.period, end: '2026-01-05T11:00:00-05:00' },
    });
    await waitFor('A03', async () => acceptedFor('VOUT-1').length === 3);
    expect(acceptedFor('VOUT-1')).toEqual(['ADT^A01', 'ADT^A08', 'ADT^A03']);
    const [a01, , a03] = receivedFor('VOUT-1');
    expect(a01.get('MSH-3')).toBe('EMERGISPHERE');
    expect(a01.get('MSH-5')).toBe('LEGACY');
    expect(a01.get('MSH-6')).toBe('HOSP');
    expect(a01.get('PID-3.1')).toBe('OUT1');
    expect(a01.get('PID-5.2')).toBe('Pat1');
    expect(a01.get('PV1-2')).toBe('E');
    expect(a03.get('PV1-45')).toBe('20260105110000-0500');
    // The legacy system has them; the bridge records each ACK right after.
    const sent = await waitFor('three sent rows', async () => {
      const rows = (await outbound('sent')).filter((r) => r.body.includes('VOUT-1'));
      return rows.length === 3 ? rows : undefined;
    });
    expect(sent.every((r) => r.ackCode === 'AA' && r.ack?.includes(`MSA|AA|${r.controlId}`))).toBe(true);
  }, 30_000);

  test('final results → ORU^R01; preliminary ones send nothing', async () => {
    const patient = await newPatient();
    await s.t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'preliminary',
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
      subject: { reference: `Patient/${patient.id}` },
      valueQuantity: { value: 99, unit: 'mg/dL' },
    });
    const final = await s.t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
      subject: { reference: `Patient/${patient.id}` },
      effectiveDateTime: '2026-01-05T09:00:00-05:00',
      valueQuantity: { value: 131, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    const oru = await waitFor('ORU^R01', async () =>
      legacy.accepted.find((m) => m.typeName === 'ORU^R01' && m.get('PID-3.1') === patient.identifier?.[0].value),
    );
    expect(oru.get('OBR-3')).toBe(`Observation/${final.id}`);
    expect(oru.all('OBX').map((o) => [o.value(3), o.value(5), o.value(11)])).toEqual([['8867-4', '131', 'F']]);
    expect(legacy.received.filter((m) => m.get('OBX-3') === '2345-7' && m.get('PID-3.1') === patient.identifier?.[0].value)).toEqual([]);
  }, 30_000);

  test('what came in over HL7 is not echoed back out', async () => {
    const inbound = new MllpClient({ host: '127.0.0.1', port: s.port });
    try {
      await inbound.send(adtA01(9001, { controlId: 'ECHO-1', visit: 'VECHO-1' }));
    } finally {
      inbound.close();
    }
    await waitFor(
      'the inbound encounter',
      async () =>
        (
          await s.t.medplum.searchResources(
            'Encounter',
            { identifier: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP|VECHO-1' },
            { cache: 'no-cache' },
          )
        )[0],
    );
    // A later change by someone else is sent.
    const [encounter] = await s.t.medplum.searchResources(
      'Encounter',
      { identifier: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP|VECHO-1' },
      { cache: 'no-cache' },
    );
    await s.t.medplum.updateResource<Encounter>({ ...encounter, priority: { coding: [{ code: 'EM' }] } });
    await waitFor('the A08 of the local change', async () => acceptedFor('VECHO-1').length === 1);
    expect(acceptedFor('VECHO-1')).toEqual(['ADT^A08']);
  }, 30_000);
});

describe('delivery that survives legacy trouble', () => {
  test('a NAK, then silence (ACK timeout): retried with backoff until accepted', async () => {
    const patient = await newPatient();
    legacy.behavior = (m, attempt) => (m.get('PV1-19') !== 'VOUT-RETRY' ? 'AA' : attempt === 1 ? 'AE' : attempt === 2 ? 'silence' : 'AA');
    try {
      await newEncounter(patient, 'VOUT-RETRY');
      await waitFor('the retried A01', async () => acceptedFor('VOUT-RETRY').length === 1, 20_000);
      expect(receivedFor('VOUT-RETRY')).toHaveLength(3);
      const row = await waitFor('the sent row', async () => (await outbound('sent')).find((r) => r.body.includes('VOUT-RETRY')));
      expect(row).toMatchObject({ attempts: 3, ackCode: 'AA' });
      const { body } = await s.api<{ counters: Record<string, number> }>('hl7/metrics');
      expect(body.counters.outboundNegativeAcks).toBeGreaterThanOrEqual(1);
      expect(body.counters.outboundTimeouts).toBeGreaterThanOrEqual(1);
    } finally {
      legacy.behavior = () => 'AA';
    }
  }, 30_000);

  test('an ACK whose MSA-2 names another message is not taken for this one', async () => {
    const patient = await newPatient();
    legacy.behavior = (m, attempt) => (m.get('PV1-19') === 'VOUT-WRONG' && attempt === 1 ? 'wrong-id' : 'AA');
    try {
      await newEncounter(patient, 'VOUT-WRONG');
      await waitFor('the A01 after the mismatched ACK', async () => acceptedFor('VOUT-WRONG').length === 1, 20_000);
      expect(receivedFor('VOUT-WRONG')).toHaveLength(2);
    } finally {
      legacy.behavior = () => 'AA';
    }
  }, 30_000);

  test('a message NAKed every time is dead-lettered after N attempts, the patient’s later messages wait for it, replay delivers it', async () => {
    const patient = await newPatient();
    let rejecting = true;
    legacy.behavior = (m) => (rejecting && m.get('PV1-19') === 'VOUT-DEAD' && m.typeName === 'ADT^A01' ? 'AE' : 'AA');
    try {
      const encounter = await newEncounter(patient, 'VOUT-DEAD');
      // The A08 queued behind the failing A01 must not overtake it.
      await waitFor('the first NAK', async () => receivedFor('VOUT-DEAD').length >= 1);
      await s.t.medplum.updateResource<Encounter>({ ...encounter, status: 'in-progress' });
      const dead = await waitFor('the dead letter', async () => (await outbound('dead')).find((r) => r.body.includes('VOUT-DEAD')), 20_000);
      expect(dead).toMatchObject({ attempts: 3, messageType: 'ADT^A01', ackCode: 'AE' });
      expect(dead.lastError).toMatch(/negative ACK AE/);
      // Once the A01 is dead, the lane moves on.
      await waitFor('the A08', async () => acceptedFor('VOUT-DEAD').includes('ADT^A08'));
      expect(receivedFor('VOUT-DEAD').map((m) => m.typeName)).toEqual(['ADT^A01', 'ADT^A01', 'ADT^A01', 'ADT^A08']);
      rejecting = false;
      expect((await s.api(`hl7/outbound/${dead.id}/$replay`, { method: 'POST' })).status).toBe(200);
      await waitFor('the replayed A01', async () => acceptedFor('VOUT-DEAD').includes('ADT^A01'));
      await waitFor('the replayed row sent', async () => (await outbound('sent')).some((r) => r.id === dead.id));
      // A sent message can be sent again on request too.
      expect((await s.api(`hl7/outbound/${dead.id}/$replay`, { method: 'POST' })).status).toBe(200);
    } finally {
      legacy.behavior = () => 'AA';
    }
  }, 40_000);

  test('a redelivered subscription event queues nothing twice', async () => {
    const patient = await newPatient();
    const encounter = await newEncounter(patient, 'VOUT-ONCE');
    await waitFor('A01', async () => acceptedFor('VOUT-ONCE').length === 1);
    const bot = (
      await s.t.medplum.searchResources('Bot', { identifier: 'https://emergisphere.dev/fhir/bot|hl7-outbound' }, { cache: 'no-cache' })
    )[0];
    const again = (await s.t.medplum.executeBot(bot.id as string, encounter, 'application/fhir+json')) as {
      sent: boolean;
      queued: { queued: unknown[]; duplicates: number };
    };
    expect(again).toMatchObject({ sent: true, queued: { queued: [], duplicates: 1 } });
    await new Promise((r) => setTimeout(r, 300));
    expect(acceptedFor('VOUT-ONCE')).toEqual(['ADT^A01']);
  }, 30_000);
});

describe('the outbound endpoint', () => {
  test('refuses what is not HL7, and callers without the right', async () => {
    expect((await s.api('hl7/outbound', { body: { message: 'hello', dedupeKey: 'x' } })).status).toBe(400);
    expect((await s.api('hl7/outbound', { body: { message: 'MSH|^~\\&|A|B|C|D|20260105||ADT^A08|X|P|2.5\r' } })).status).toBe(400);
    expect((await s.api('hl7/outbound', { body: { message: 'x', dedupeKey: 'y' }, token: '' })).status).toBe(401);
    const nothing = await s.api<{ queued: unknown[] }>('hl7/outbound', {
      body: { message: 'MSH|^~\\&|A|B|C|D|20260105||SIU^S12|X|P|2.5\r', dedupeKey: 'siu' },
    });
    expect(nothing).toMatchObject({ status: 200, body: { queued: [] } });
  });
});
