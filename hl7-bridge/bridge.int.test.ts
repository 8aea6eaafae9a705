// End to end on real parts: a real MLLP client (ours, over TCP) → the bridge (PostgreSQL store,
// conversion workers) → the hl7-inbound bot on our server → FHIR, checked through the server's API;
// and the bridge's own API: message log, error queue with replay, metrics, access control.
import { MedplumClient } from '@medplum/core';
import type { Account, Appointment, ChargeItem, DiagnosticReport, Encounter, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient } from '../server/auth/admin.ts';
import { encodeText } from './hl7v2/charset.ts';
import { Message } from './hl7v2/message.ts';
import { MllpClient } from './mllp/client.ts';
import { frame } from './mllp/framing.ts';
import type { LogDetail, LogEntry } from './store/message-log.ts';
import { adtA01, corpus, er7 } from './test-corpus/messages.ts';
import { sendRaw } from './test-support/mllp.ts';
import { type Stack, startStack, waitFor } from './test-support/stack.ts';

const SID = 'https://emergisphere.dev/fhir/sid/hl7v2/';
let s: Stack;
let client: MllpClient;

beforeAll(async () => {
  s = await startStack({
    channels: {
      inbound: [
        { name: 'test', port: 0, host: '127.0.0.1' },
        { name: 'app', port: 0, host: '127.0.0.1', ackMode: 'application' },
      ],
    },
  });
  client = new MllpClient({ host: '127.0.0.1', port: s.port });
}, 120_000);

afterAll(async () => {
  client?.close();
  await s?.close();
});

type Log = { entries: LogEntry[]; hasMore: boolean };

async function drained(): Promise<void> {
  await waitFor(
    'the conversion queue to drain',
    async () => ((await s.api<Log>('hl7/messages?status=pending')).body.entries.length === 0 ? true : undefined),
    60_000,
  );
}

async function one<T>(type: string, identifier: string): Promise<T> {
  const found = await s.t.medplum.searchResources(type as 'Patient', { identifier }, { cache: 'no-cache' });
  expect(found, `${type}?identifier=${identifier}`).toHaveLength(1);
  return found[0] as T;
}

describe('every supported message type, over MLLP, into FHIR', () => {
  test('the corpus is ACKed, stored, converted, and readable through the server', async () => {
    for (const [name, text] of Object.entries(corpus)) {
      const bytes = name === 'adtA08Latin1' ? Buffer.from(encodeText(text, '8859/1')) : Buffer.from(text);
      const reply = (await client.send(bytes)).toString('latin1');
      expect(reply, name).toMatch(/MSA[|!]AA[|!]/);
    }
    await drained();
    const { body } = await s.api<Log>('hl7/messages?_count=100');
    expect(body.entries.filter((e) => e.status !== 'converted').map((e) => [e.controlId, e.error])).toEqual([]);

    const patient = await one<Patient>('Patient', `${SID}GENHOSP|000123456`);
    // The last change came from the custom-delimiter A08, whose escaped $S$ is a literal '@'.
    expect(patient.name?.[0].family).toBe('O@Brien');
    const encounter = await one<Encounter>('Encounter', `${SID}GENHOSP|V00098765`);
    expect(encounter).toMatchObject({ class: { code: 'EMER' }, status: 'in-progress', subject: { reference: `Patient/${patient.id}` } });
    expect((await one<Patient>('Patient', `${SID}MCM|556677`)).name?.[0]).toMatchObject({ family: 'Ørsted', given: ['Zoë'] });
    expect((await one<DiagnosticReport>('DiagnosticReport', `${SID}LAB|LAB5001`)).result).toHaveLength(12);
    expect((await one<Appointment>('Appointment', `${SID}CADENCE|APT100`)).status).toBe('cancelled');
    const account = await one<Account>('Account', `${SID}GENHOSP|ACC7001`);
    const charges = await s.t.medplum.searchResources('ChargeItem', { account: `Account/${account.id}` }, { cache: 'no-cache' });
    expect((charges as ChargeItem[]).map((c) => c.code.coding?.[0].code).sort()).toEqual(['80053', '99285']);
    await one<Patient>('Patient', `${SID}MCM|880001`);
    await one<Patient>('Patient', `${SID}MCM|880002`);
  }, 120_000);

  test('a resend (same MSH-10) gets the original ACK and is not converted twice', async () => {
    const text = adtA01(501, { controlId: 'E2E-DUP' });
    const first = await client.send(text);
    const second = await client.send(text);
    expect(second.equals(first)).toBe(true);
    await drained();
    const { body } = await s.api<Log>('hl7/messages?control=E2E-DUP');
    expect(body.entries).toHaveLength(1);
    expect(body.entries[0]).toMatchObject({ status: 'converted', resends: 1, attempts: 1 });
  });

  test('the same content again under a new MSH-10 writes nothing new', async () => {
    const patient = await one<Patient & { id: string }>('Patient', `${SID}GENHOSP|MRN0000501`);
    const versions = async () =>
      ((await s.t.medplum.get(s.t.medplum.fhirUrl('Patient', patient.id, '_history'), { cache: 'no-cache' })) as { entry: unknown[] }).entry
        .length;
    const before = await versions();
    await client.send(adtA01(501, { controlId: 'E2E-DUP-2' }));
    await drained();
    expect(await versions()).toBe(before);
  });
});

/** The bot runtime caches project secrets for 2 s. */
const secretsRefreshed = () => new Promise((r) => setTimeout(r, 2100));

describe('the error queue', () => {
  test('a failed conversion is visible with its error, and replay converts it once the cause is fixed', async () => {
    // A misconfigured sender timezone breaks conversion of messages without offsets.
    await s.setSecret('HL7_TIMEZONE', 'Mars/Olympus_Mons');
    await secretsRefreshed();
    const text = er7(`
MSH|^~\\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260107081530||ADT^A04|E2E-ERR|P|2.5.1
PID|1||ERR001^^^GENHOSP^MR||Error^Erin||19800101|F
PV1|1|E|ED^BAY02^^GENHOSP||||||||||||||||VERR001^^^GENHOSP^VN|||||||||||||||||||||||||20260107081000
`);
    expect(Message.parse((await client.send(text)).toString()).get('MSA-1')).toBe('AA');
    const failed = await waitFor('the message to fail', async () =>
      (await s.api<Log>('hl7/errors')).body.entries.find((e) => e.controlId === 'E2E-ERR'),
    );
    expect(failed.error).toMatch(/Mars\/Olympus_Mons|time zone/i);
    const detail = await s.api<LogDetail>(`hl7/messages/${failed.id}`);
    expect(detail.body.body).toBe(text);
    expect(detail.body.errorDetail).toEqual([expect.objectContaining({ code: '207' })]);
    const raw = await fetch(new URL(`hl7/messages/${failed.id}/raw`, s.bridge.apiUrl), { headers: { authorization: s.t.authorization } });
    expect(Buffer.from(await raw.arrayBuffer()).toString()).toBe(text);

    await s.setSecret('HL7_TIMEZONE', 'America/Chicago');
    await secretsRefreshed();
    expect((await s.api(`hl7/messages/${failed.id}/$replay`, { method: 'POST' })).status).toBe(200);
    await waitFor('the replay to convert', async () =>
      (await s.api<LogDetail>(`hl7/messages/${failed.id}`)).body.status === 'converted' ? true : undefined,
    );
    const encounter = await one<Encounter>('Encounter', `${SID}GENHOSP|VERR001`);
    expect(encounter.period?.start).toBe('2026-01-07T08:10:00-06:00');
    expect((await s.api(`hl7/messages/${failed.id}/$replay`, { method: 'POST' })).status).toBe(200);
    expect((await s.api('hl7/messages/999999999/$replay', { method: 'POST' })).status).toBe(404);
  }, 60_000);
});

describe('application-accept channel', () => {
  test('the ACK comes after conversion: AA, or AE with the bot’s ERR; a resend gets that final ACK', async () => {
    const app = new MllpClient({ host: '127.0.0.1', port: s.bridge.ports.app });
    try {
      const ok = Message.parse((await app.send(adtA01(601, { controlId: 'APP-OK' }).replace('|AL|NE|', '|||'))).toString());
      expect(ok.get('MSA-1')).toBe('AA');
      await one<Patient>('Patient', `${SID}GENHOSP|MRN0000601`);
      const noVisit = corpus.adtA11.replace('V00077777^^^GENHOSP^VN', '').replace('MSG00006', 'APP-BAD');
      const bad = Message.parse((await app.send(noVisit)).toString());
      expect(bad.get('MSA-1')).toBe('AE');
      expect(bad.segment('ERR')?.field(2)).toBe('PV1^1^19^1');
      const again = Message.parse((await app.send(noVisit)).toString());
      expect(again.toString()).toBe(bad.toString());
      const { body } = await s.api<Log>('hl7/messages?control=APP-BAD');
      expect(body.entries[0]).toMatchObject({ status: 'error', ackCode: 'AE', resends: 1 });
    } finally {
      app.close();
    }
  }, 60_000);
});

describe('message log search', () => {
  test('by type, patient identifier, date, status, channel', async () => {
    const types = (await s.api<Log>('hl7/messages?type=SIU&_count=100')).body.entries.map((e) => e.messageType);
    expect(new Set(types)).toEqual(new Set(['SIU^S12', 'SIU^S13', 'SIU^S14', 'SIU^S15', 'SIU^S26']));
    expect((await s.api<Log>('hl7/messages?type=ADT^A03')).body.entries.map((e) => e.controlId)).toEqual(['MSG00005']);
    const byPatient = (await s.api<Log>('hl7/messages?patient=000123456&_count=100')).body.entries;
    expect(byPatient.length).toBeGreaterThanOrEqual(10);
    expect(byPatient.every((e) => e.patientIds.includes('000123456'))).toBe(true);
    expect((await s.api<Log>('hl7/messages?patient=GENHOSP|000999')).body.entries.map((e) => e.controlId)).toEqual([]);
    const today = new Date().toISOString().slice(0, 10);
    expect((await s.api<Log>(`hl7/messages?date=${today}&_count=5`)).body).toMatchObject({ hasMore: true });
    expect((await s.api<Log>('hl7/messages?date=lt2000-01-01')).body.entries).toEqual([]);
    expect((await s.api<Log>('hl7/messages?channel=app&status=error')).body.entries.map((e) => e.controlId)).toEqual(['APP-BAD']);
    const bad = await s.api<{ resourceType: string }>('hl7/messages?date=yesterday');
    expect(bad).toMatchObject({ status: 400, body: { resourceType: 'OperationOutcome' } });
  });

  test('metrics: counters, latencies, queue depths', async () => {
    const { body } = await s.api<{
      counters: Record<string, number>;
      latency: Record<string, { count: number; p99Ms: number }>;
      queues: { inbound: { pending: number } };
    }>('hl7/metrics');
    expect(body.counters.messagesReceived).toBeGreaterThanOrEqual(25);
    expect(body.counters.converted).toBeGreaterThanOrEqual(23);
    expect(body.counters.duplicates).toBeGreaterThanOrEqual(2);
    expect(body.latency.ack.count).toBeGreaterThan(0);
    expect(body.latency.ack.p99Ms).toBeGreaterThan(0);
    expect(body.queues.inbound.pending).toBe(0);
  });
});

describe('API access', () => {
  test('no token: 401; an invalid token: 401; a clinician: 403; the bridge client and admins: allowed', async () => {
    expect((await s.api('hl7/messages', { token: '' })).status).toBe(401);
    expect((await s.api('hl7/messages', { token: 'not-a-token' })).status).toBe(401);
    const nurse = await createClient(s.t.server.app.repo(), s.t.server.bootstrap.project, { name: 'Nurse station', role: 'triage-nurse' });
    const nurseClient = new MedplumClient({ baseUrl: s.t.baseUrl });
    await nurseClient.startClientLogin(nurse.client.id, nurse.secret);
    const refused = await s.api<{ issue: { code: string }[] }>('hl7/errors', { token: nurseClient.getAccessToken() });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].code).toBe('forbidden');
    const bridgeClient = new MedplumClient({ baseUrl: s.t.baseUrl });
    await bridgeClient.startClientLogin(s.client.id, s.client.secret);
    expect((await s.api('hl7/metrics', { token: bridgeClient.getAccessToken() })).status).toBe(200);
    expect((await fetch(new URL('hl7/health', s.bridge.apiUrl))).status).toBe(200);
  });

  test('the server refuses to let the bridge client do anything but run bots', async () => {
    const bridgeClient = new MedplumClient({ baseUrl: s.t.baseUrl });
    await bridgeClient.startClientLogin(s.client.id, s.client.secret);
    await expect(bridgeClient.searchResources('Patient', {}, { cache: 'no-cache' })).rejects.toThrow(/Forbidden/);
  });
});

describe('garbage over the wire', () => {
  test('AR and logged, never a crash: the bridge keeps converting', async () => {
    const [reply] = await sendRaw([frame(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))], { port: s.port, expect: 1 });
    expect(Message.parse(reply.toString()).get('MSA-1')).toBe('AR');
    await client.send(adtA01(701, { controlId: 'AFTER-GARBAGE' }));
    await drained();
    await one<Patient>('Patient', `${SID}GENHOSP|MRN0000701`);
  });
});
