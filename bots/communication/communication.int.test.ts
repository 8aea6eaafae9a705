/**
 * The communication bot through the real server: deployed with deploy-bots, triggered by its real
 * Subscriptions, reading and writing over HTTP with its own least-privilege role, sending through
 * the official Twilio and SendGrid SDKs to local fakes of their APIs.
 */
import { resolve } from 'node:path';
import type {
  CareTeam,
  Communication,
  CommunicationRequest,
  Consent,
  Patient,
  Practitioner,
  Project,
  ProjectSetting,
  RelatedPerson,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { type FakeSendGrid, startFakeSendGrid } from '../../test/fakes/sendgrid.ts';
import { type FakeTwilio, startFakeTwilio } from '../../test/fakes/twilio.ts';
import { FAKE_EMAIL_FROM, vendorSecrets } from '../../test/fakes/vendor-secrets.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { CATEGORY_SYSTEM, CONSENT_PURPOSE_SYSTEM, ESCALATE_AFTER_EXT, ESCALATION_LEVEL_EXT, ON_CALL_SYSTEM } from './codes.ts';
import { type Delivery, deliveriesOf } from './delivery.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const ACCOUNT = `AC${'3'.repeat(32)}`;
const TOKEN = 'twilio-token';
const SG_KEY = 'SG.integration';
const HOUR = 3_600_000;
/** The bot runtime caches a project's secrets this long (server/bots/runtime.ts). */
const SECRETS_CACHE_MS = 2_000;

let t: TestServer;
let twilio: FakeTwilio;
let sendgrid: FakeSendGrid;
let botId: string;
let team: CareTeam;
let grey: Practitioner;
let shepherd: Practitioner;
let patient: Patient;
let mum: RelatedPerson;
let dad: RelatedPerson;

async function practitioner(family: string, phone: string, email: string): Promise<Practitioner> {
  return t.medplum.createResource<Practitioner>({
    resourceType: 'Practitioner',
    name: [{ family }],
    telecom: [
      { system: 'sms', value: phone },
      { system: 'email', value: email },
    ],
  });
}

beforeAll(async () => {
  [t, twilio, sendgrid] = await Promise.all([
    startTestServer(),
    startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN }),
    startFakeSendGrid({ apiKey: SG_KEY }),
  ]);
  const [deployed] = await deployBots(t.medplum, { rootDir: ROOT, only: ['communication'] });
  botId = deployed.id;
  const now = Date.now();
  const off = await practitioner('Karev', '+15550001009', 'karev@h.example');
  grey = await practitioner('Grey', '+15550001001', 'grey@h.example');
  shepherd = await practitioner('Shepherd', '+15550001002', 'shepherd@h.example');
  team = await t.medplum.createResource<CareTeam>({
    resourceType: 'CareTeam',
    status: 'active',
    identifier: [{ system: ON_CALL_SYSTEM, value: 'ed-physician' }],
    participant: [
      {
        member: { reference: `Practitioner/${off.id}` },
        period: { start: new Date(now - 16 * HOUR).toISOString(), end: new Date(now - HOUR).toISOString() },
      },
      {
        member: { reference: `Practitioner/${grey.id}` },
        period: { start: new Date(now - HOUR).toISOString(), end: new Date(now + 8 * HOUR).toISOString() },
      },
      {
        member: { reference: `Practitioner/${shepherd.id}` },
        period: { start: new Date(now - HOUR).toISOString(), end: new Date(now + 8 * HOUR).toISOString() },
      },
    ],
  });
  patient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Jane'], family: 'Roe' }] });
  const relative = (phone: string) =>
    t.medplum.createResource<RelatedPerson>({
      resourceType: 'RelatedPerson',
      patient: { reference: `Patient/${patient.id}` },
      telecom: [
        { system: 'phone', use: 'mobile', value: phone },
        { system: 'email', value: `${phone.slice(-4)}@family.example` },
      ],
    });
  [mum, dad] = await Promise.all([relative('+15550002001'), relative('+15550002002')]);
  await t.medplum.createResource<Consent>({
    resourceType: 'Consent',
    status: 'active',
    scope: { text: 'patient-privacy' },
    category: [{ text: 'family updates' }],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentpolicycodes', code: 'hipaa-auth' }] },
    patient: { reference: `Patient/${patient.id}` },
    provision: {
      type: 'permit',
      actor: [{ role: { text: 'family' }, reference: { reference: `RelatedPerson/${mum.id}` } }],
      purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: 'family-updates' }],
    },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([t?.close(), twilio?.close(), sendgrid?.close()]);
});

async function setSecrets(secret: ProjectSetting[]): Promise<void> {
  const project = await t.medplum.readResource('Project', t.server.bootstrap.project.id as string);
  await t.medplum.updateResource<Project>({ ...project, secret });
  await new Promise((r) => setTimeout(r, SECRETS_CACHE_MS + 200));
}

function request(category: string, recipient: string, extra: Partial<CommunicationRequest> = {}): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: category }] }],
    subject: { reference: `Patient/${patient.id}` },
    reasonCode: [{ text: 'SpO2 84%' }],
    payload: [{ contentString: 'Bed 4, please come.' }],
    recipient: [{ reference: recipient }],
    ...extra,
  };
}

function communicationsOf(req: CommunicationRequest): Promise<Communication[]> {
  return t.medplum.searchResources(
    'Communication',
    { 'based-on': `CommunicationRequest/${req.id}`, _sort: '_lastUpdated' },
    { cache: 'no-cache' },
  );
}

/** Polls until `done` holds for the request's Communications (the bot runs asynchronously, after the commit). */
async function waitForCommunications(
  req: CommunicationRequest,
  done: (c: Communication[]) => boolean,
  timeoutMs = 10_000,
): Promise<Communication[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = await communicationsOf(req);
    if (done(found)) return found;
    if (Date.now() > end) throw new Error(`timed out; Communications: ${JSON.stringify(found.map((c) => [c.status, deliveriesOf(c)]))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const settled = (c: Communication) => c.status === 'completed' || c.status === 'not-done';
const statuses = (c: Communication) => deliveriesOf(c).map((d: Delivery) => `${d.channel}:${d.status}`);

describe('without vendor keys', () => {
  test('a stat page to an on-call team reaches the first on shift within seconds, in-app only', async () => {
    const started = Date.now();
    const page = await t.medplum.createResource(request('page', `CareTeam/${team.id}`, { priority: 'stat' }));
    const [c] = await waitForCommunications(page, (found) => found.length > 0);
    const latency = Date.now() - started;
    expect(latency).toBeLessThan(5_000);
    expect(c.recipient).toEqual([{ reference: `Practitioner/${grey.id}` }]);
    expect(c.status).toBe('completed');
    expect(statuses(c)).toEqual(['in-app:sent', 'sms:not-configured', 'email:not-configured']);
    expect(twilio.requests).toHaveLength(0);
    expect(sendgrid.requests).toHaveLength(0);
  });

  test('a family update with consent is delivered; without consent it is not-done', async () => {
    const [withConsent, without] = await Promise.all([
      t.medplum.createResource(request('family-update', `RelatedPerson/${mum.id}`)),
      t.medplum.createResource(request('family-update', `RelatedPerson/${dad.id}`)),
    ]);
    const [toMum] = await waitForCommunications(withConsent, (f) => f.length === 1 && settled(f[0]));
    const [toDad] = await waitForCommunications(without, (f) => f.length === 1);
    expect(toMum.status).toBe('completed');
    expect(toMum.reasonCode).toBeUndefined();
    expect(toDad).toMatchObject({ status: 'not-done', statusReason: { text: 'no consent on file' } });
    // A notice-type request is completed once delivered.
    await expect.poll(async () => (await t.medplum.readResource('CommunicationRequest', without.id as string)).status).toBe('completed');
  });
});

describe('escalation and acknowledgement', () => {
  async function statPage(): Promise<{ page: CommunicationRequest; first: Communication }> {
    const page = await t.medplum.createResource(
      request('page', `CareTeam/${team.id}`, {
        priority: 'stat',
        extension: [{ url: ESCALATE_AFTER_EXT, valueDuration: { value: 1, unit: 's', system: 'http://unitsofmeasure.org', code: 's' } }],
      }),
    );
    const [first] = await waitForCommunications(page, (f) => f.length === 1 && settled(f[0]));
    return { page, first };
  }

  function escalate(): Promise<{ checked: number; escalated: { request: string; level: number; recipients: string[] }[] }> {
    return t.medplum.executeBot(botId, { action: 'escalate' }, 'application/json');
  }

  test('an unacknowledged stat page escalates to the next on shift once its interval has passed', async () => {
    const { page } = await statPage();
    const mine = (r: Awaited<ReturnType<typeof escalate>>) => r.escalated.filter((e) => e.request === `CommunicationRequest/${page.id}`);
    expect(mine(await escalate())).toEqual([]);
    // The run stamped when the page is due (its first page's time + 1 s): found by the SearchParameter.
    const due = async (op: 'le' | 'gt') =>
      (
        await t.medplum.searchResources(
          'CommunicationRequest',
          { _id: page.id as string, 'escalation-due': `${op}${new Date().toISOString()}` },
          { cache: 'no-cache' },
        )
      ).length;
    expect(await due('gt')).toBe(1);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await due('le')).toBe(1);
    expect(mine(await escalate())).toEqual([
      { request: `CommunicationRequest/${page.id}`, level: 1, recipients: [`Practitioner/${shepherd.id}`] },
    ]);
    const all = await communicationsOf(page);
    expect(all.map((c) => [c.recipient?.[0]?.reference, c.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)?.valueInteger])).toEqual([
      [`Practitioner/${grey.id}`, 0],
      [`Practitioner/${shepherd.id}`, 1],
    ]);
    // Running again at once escalates nothing more: the next level waits its own interval, and the
    // page is not due (not even read by the run) until then.
    expect(await due('le')).toBe(0);
    expect(mine(await escalate())).toEqual([]);
  });

  test('an acknowledgement (through its Subscription) completes the page and stops escalation', async () => {
    const { page, first } = await statPage();
    await t.medplum.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      inResponseTo: [{ reference: `Communication/${first.id}` }],
      sender: { reference: `Practitioner/${grey.id}`, display: 'Dr Grey' },
      payload: [{ contentString: 'On my way' }],
    });
    await expect
      .poll(async () => (await t.medplum.readResource('CommunicationRequest', page.id as string, { cache: 'no-cache' })).status, {
        timeout: 10_000,
      })
      .toBe('completed');
    await new Promise((r) => setTimeout(r, 1_100));
    const result = await escalate();
    expect(result.escalated.filter((e) => e.request === `CommunicationRequest/${page.id}`)).toEqual([]);
    expect(await communicationsOf(page)).toHaveLength(1);
  });
});

describe('with Twilio and SendGrid configured (official SDKs, local fakes)', () => {
  beforeAll(async () => {
    await setSecrets(vendorSecrets(twilio, sendgrid));
    const check = (await t.medplum.executeBot(botId, { action: 'check-channels' }, 'application/json')) as Record<
      string,
      { status: string; error?: string }
    >;
    // The bot runtime must load the official SDKs (sandbox-modules.ts offers their built-ins).
    expect(check).toEqual({ sms: expect.objectContaining({ status: 'ready' }), email: expect.objectContaining({ status: 'ready' }) });
  }, 30_000);

  test('a stat page: SMS and email sent through the vendors, their status written back', async () => {
    const page = await t.medplum.createResource(request('page', `CareTeam/${team.id}`, { priority: 'stat' }));
    const [c] = await waitForCommunications(page, (f) => f.length === 1 && settled(f[0]));
    const sms = twilio.messages.find((m) => m.to === '+15550001001');
    const email = sendgrid.emails.find((e) => e.customArgs.communication === c.id);
    expect(sms?.body).toContain('[STAT] ED page: SpO2 84%');
    expect(email).toMatchObject({ to: 'grey@h.example', from: FAKE_EMAIL_FROM });
    expect(deliveriesOf(c)).toEqual([
      { channel: 'in-app', status: 'sent' },
      { channel: 'sms', status: 'sent', vendorId: sms?.sid },
      { channel: 'email', status: 'sent', vendorId: email?.messageId },
    ]);
  });

  test('a redelivered request sends nothing twice', async () => {
    const notice = await t.medplum.createResource(request('staff-notice', `Practitioner/${shepherd.id}`));
    const [c] = await waitForCommunications(notice, (f) => f.length === 1 && settled(f[0]));
    const texts = () => twilio.messages.filter((m) => m.to === '+15550001002').length;
    const before = texts();
    // What the subscription engine does on a retry: run the bot again with the same version.
    await t.medplum.executeBot(botId, notice, 'application/fhir+json');
    expect((await communicationsOf(notice)).map((x) => `${x.id}@${x.meta?.versionId}`)).toEqual([`${c.id}@${c.meta?.versionId}`]);
    expect(texts()).toBe(before);
    expect(before).toBeGreaterThan(0);
  });

  test('family: a generic text with consent; without consent nothing is sent', async () => {
    const [withConsent, without] = await Promise.all([
      t.medplum.createResource(request('family-update', `RelatedPerson/${mum.id}`)),
      t.medplum.createResource(request('family-update', `RelatedPerson/${dad.id}`)),
    ]);
    const [toMum] = await waitForCommunications(withConsent, (f) => f.length === 1 && settled(f[0]));
    await waitForCommunications(without, (f) => f.length === 1);
    expect(statuses(toMum)).toEqual(['in-app:sent', 'sms:sent', 'email:sent']);
    const text = twilio.messages.find((m) => m.to === '+15550002001');
    expect(text?.body).toContain('update about Jane');
    expect(text?.body).not.toMatch(/SpO2|Bed 4/);
    expect(twilio.messages.some((m) => m.to === '+15550002002')).toBe(false);
    expect(sendgrid.emails.some((e) => e.to === '2002@family.example')).toBe(false);
  });
});
