/**
 * The family status page's server side, through the real server and MedplumClient: inviting a
 * family member needs the patient's consent; the family member reads only their patient's visit and
 * messages to them; nothing restricted (a legal flag, a restricted Task or message) reaches them by
 * read, search, _include, _revinclude or websocket; `$family-status` answers the phase and the wait
 * for their own patient only; revoking the consent cuts every route.
 */
import { MedplumClient, type WithId } from '@medplum/core';
import type {
  Bundle,
  CapabilityStatement,
  Communication,
  Consent,
  Encounter,
  Flag,
  OperationOutcome,
  Parameters,
  Patient,
  Project,
  RelatedPerson,
  ServiceRequest,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { familyConsent } from '../../test/family-consent.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createUser } from '../auth/admin.ts';

let t: TestServer;
let doctor: MedplumClient;
let ana: WithId<Patient>;
let bo: WithId<Patient>;
let anaSister: WithId<RelatedPerson>;
let boFather: WithId<RelatedPerson>;
let anaVisit: WithId<Encounter>;
let boVisit: WithId<Encounter>;
let anaConsent: WithId<Consent>;
let family: MedplumClient;
let otherFamily: MedplumClient;
/** What the family member's websocket Subscription to their messages was pushed. */
const pushedToFamily: Bundle[] = [];
const PASSWORD = 'correct horse battery staple';
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };
const ESI = 'https://emergisphere.dev/fhir/CodeSystem/esi';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const min = 60_000;

async function signIn(email: string): Promise<MedplumClient> {
  const medplum = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  const login = await medplum.startLogin({ email, password: PASSWORD });
  await medplum.processCode(login.code as string);
  return medplum;
}

async function failure(p: Promise<unknown>): Promise<{ status: number; text: string }> {
  try {
    await p;
  } catch (err) {
    const oo = (err as { outcome?: OperationOutcome }).outcome;
    const code = oo?.issue?.[0]?.code;
    const status = code === 'forbidden' ? 403 : code === 'not-found' ? 404 : code === 'login' ? 401 : 400;
    return { status, text: oo?.issue?.[0]?.details?.text ?? String(err) };
  }
  throw new Error('expected a failure');
}

const consent = (patient: Patient, relatedPerson: RelatedPerson): Consent =>
  familyConsent(`Patient/${patient.id}`, `RelatedPerson/${relatedPerson.id}`);

const invite = (patient: Patient, params: Parameters['parameter']) =>
  doctor.post(doctor.fhirUrl('Patient', patient.id as string, '$invite-family'), { resourceType: 'Parameters', parameter: params });

const status = async (client: MedplumClient, patient: Patient) => {
  const p = (await client.get(client.fhirUrl('Patient', patient.id as string, '$family-status'), { cache: 'no-cache' })) as Parameters;
  return Object.fromEntries(
    (p.parameter ?? []).map((x) => [x.name, x.valueCode ?? x.valueString ?? x.valueInteger ?? x.valueReference?.reference]),
  );
};

function visit(patient: Patient, minutesAgo: number, over: Partial<Encounter> = {}): Encounter {
  return {
    resourceType: 'Encounter',
    status: 'triaged',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    period: { start: new Date(Date.now() - minutesAgo * min).toISOString() },
    priority: { coding: [{ system: ESI, code: '3' }] },
    reasonCode: [{ text: 'suspected assault, police informed' }],
    ...over,
  };
}

beforeAll(async () => {
  t = await startTestServer();
  const admin = t.medplum;
  await createUser(t.server.app.repo(), t.server.bootstrap.project as WithId<Project>, {
    email: 'dr.osei@h.example',
    password: PASSWORD,
    firstName: 'Kofi',
    lastName: 'Osei',
    role: 'ed-physician',
  });
  doctor = await signIn('dr.osei@h.example');
  ana = await admin.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Ana'], family: 'Rivera' }] });
  bo = await admin.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Bo'], family: 'Okafor' }] });
  anaSister = await admin.createResource<RelatedPerson>({
    resourceType: 'RelatedPerson',
    patient: { reference: `Patient/${ana.id}` },
    name: [{ given: ['Lucia'], family: 'Rivera' }],
    telecom: [{ system: 'email', value: 'lucia@family.example' }],
  });
  boFather = await admin.createResource<RelatedPerson>({
    resourceType: 'RelatedPerson',
    patient: { reference: `Patient/${bo.id}` },
    name: [{ given: ['Chidi'], family: 'Okafor' }],
    telecom: [{ system: 'email', value: 'chidi@family.example' }],
  });
  // The queue: two patients waiting ahead of Ana (acuity 2, and acuity 3 earlier), one behind.
  anaVisit = await admin.createResource(visit(ana, 20));
  boVisit = await admin.createResource(visit(bo, 30));
  await admin.createResource(visit(bo, 5, { priority: { coding: [{ system: ESI, code: '2' }] }, subject: undefined }));
  await admin.createResource(visit(bo, 10, { priority: { coding: [{ system: ESI, code: '4' }] }, subject: undefined }));
  // The pace: four patients taken by a provider in the last two hours (one every 30 minutes).
  for (const ago of [15, 45, 75, 105]) {
    await admin.createResource(
      visit(bo, ago + 40, {
        subject: undefined,
        status: 'in-progress',
        participant: [{ type: [{ coding: [{ code: 'ATND' }] }], period: { start: new Date(Date.now() - ago * min).toISOString() } }],
      }),
    );
  }
});

afterAll(async () => {
  family?.getSubscriptionManager().closeWebSocket();
  await t?.close();
});

describe('inviting a family member', () => {
  test('is refused without the patient consent on file, with a clear OperationOutcome', async () => {
    const refused = await failure(
      invite(ana, [
        { name: 'email', valueString: 'lucia@family.example' },
        { name: 'password', valueString: PASSWORD },
      ]),
    );
    expect(refused.status).toBe(400);
    expect(refused.text).toMatch(/^No consent on file/);
    expect(refused.text).toContain(`RelatedPerson/${anaSister.id}`);
    // A consent for someone else, or for another purpose, is no consent for her.
    await t.medplum.createResource(consent(ana, boFather));
    const other = consent(ana, anaSister);
    other.provision = { ...other.provision, purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] };
    // Not a family consent: the profile refuses it, and stored without the profile it permits nothing.
    const invalid = await failure(t.medplum.createResource(other));
    expect(invalid.status).toBe(400);
    expect(invalid.text).toMatch(/purpose/);
    await t.medplum.createResource({ ...other, meta: undefined });
    expect((await failure(invite(ana, [{ name: 'email', valueString: 'lucia@family.example' }]))).text).toMatch(/^No consent on file/);
  });

  test('bad input is a precise 400; a non-clinician may not invite', async () => {
    expect((await failure(invite(ana, []))).text).toMatch(/email is required/);
    expect((await failure(invite(ana, [{ name: 'email', valueString: 'nobody@family.example' }]))).text).toMatch(/no family member/);
    expect(
      (
        await failure(
          invite(ana, [
            { name: 'email', valueString: 'x@family.example' },
            { name: 'relatedPerson', valueReference: { reference: `RelatedPerson/${boFather.id}` } },
          ]),
        )
      ).text,
    ).toMatch(/must be a RelatedPerson of Patient\//);
  });

  test('with consent, creates the membership with the RelatedPerson as profile; the family member signs in', async () => {
    anaConsent = await t.medplum.createResource(consent(ana, anaSister));
    const result = (await invite(ana, [
      { name: 'email', valueString: 'Lucia@family.example' },
      { name: 'password', valueString: PASSWORD },
    ])) as Parameters;
    expect(result.parameter?.find((p) => p.name === 'relatedPerson')?.valueReference?.reference).toBe(`RelatedPerson/${anaSister.id}`);
    family = await signIn('lucia@family.example');
    expect(family.getProfile()?.resourceType).toBe('RelatedPerson');
    expect(family.getProfile()?.id).toBe(anaSister.id);
    // The second family, of another patient, through the API too.
    await t.medplum.createResource(consent(bo, boFather));
    await invite(bo, [
      { name: 'email', valueString: 'chidi@family.example' },
      { name: 'relatedPerson', valueReference: { reference: `RelatedPerson/${boFather.id}` } },
      { name: 'password', valueString: PASSWORD },
    ]);
    otherFamily = await signIn('chidi@family.example');
    // A family member may not invite anyone.
    const byFamily = await failure(
      family.post(family.fhirUrl('Patient', ana.id, '$invite-family'), {
        resourceType: 'Parameters',
        parameter: [{ name: 'email', valueString: 'a@b.c' }],
      }),
    );
    expect(byFamily.status).toBe(403);
  });
});

describe('what the family member sees', () => {
  let flag: WithId<Flag>;
  let legalTask: WithId<Task>;
  let legalMessage: WithId<Communication>;

  beforeAll(async () => {
    flag = await t.medplum.createResource<Flag>({
      resourceType: 'Flag',
      meta: { security: [RESTRICTED] },
      status: 'active',
      code: { text: 'Restricted: suspected abuse. Share nothing with visitors or family.' },
      subject: { reference: `Patient/${ana.id}` },
      encounter: { reference: `Encounter/${anaVisit.id}` },
    });
    legalTask = await t.medplum.createResource<Task>({
      resourceType: 'Task',
      meta: { security: [RESTRICTED] },
      status: 'requested',
      intent: 'order',
      description: 'Report suspected abuse to the authority',
      for: { reference: `Patient/${ana.id}` },
      encounter: { reference: `Encounter/${anaVisit.id}` },
      focus: { reference: `Flag/${flag.id}` },
    });
    legalMessage = await t.medplum.createResource<Communication>({
      resourceType: 'Communication',
      meta: { security: [RESTRICTED] },
      status: 'completed',
      recipient: [{ reference: `RelatedPerson/${anaSister.id}` }],
      payload: [{ contentString: 'legal: do not disclose' }],
    });
  });

  test("reads only their patient's visit, without clinical detail, and no one else's", async () => {
    const encounters = await family.searchResources('Encounter', {}, { cache: 'no-cache' });
    expect(encounters.map((e) => e.id)).toEqual([anaVisit.id]);
    expect(encounters[0].reasonCode).toBeUndefined();
    expect((await failure(family.readResource('Encounter', boVisit.id))).status).toBe(404);
    expect((await failure(family.readResource('Patient', bo.id))).status).toBe(403);
    expect((await otherFamily.searchResources('Encounter', {}, { cache: 'no-cache' })).map((e) => e.id)).toEqual([boVisit.id]);
    expect((await failure(otherFamily.readResource('Encounter', anaVisit.id))).status).toBe(404);
  });

  test('a legal flag never reaches them: read, search, _include, _revinclude', async () => {
    expect((await failure(family.readResource('Flag', flag.id))).status).toBe(403);
    expect((await failure(family.searchResources('Flag', { patient: `Patient/${ana.id}` }))).status).toBe(403);
    expect((await failure(family.readResource('Task', legalTask.id))).status).toBe(404);
    expect((await failure(family.readResource('Communication', legalMessage.id))).status).toBe(404);
    const texts: string[] = [];
    for (const query of [
      `Encounter?_revinclude=Flag:encounter&_revinclude=Task:encounter`,
      `Task?_include=Task:focus&patient=Patient/${ana.id}`,
      `Encounter?_revinclude:iterate=Task:encounter&_include:iterate=Task:focus`,
      `Communication?_revinclude=Flag:subject`,
    ]) {
      const bundle = (await family.get(family.fhirUrl(...query.split('?')[0].split('/')) + `?${query.split('?')[1]}`, {
        cache: 'no-cache',
      })) as Bundle;
      texts.push(JSON.stringify(bundle));
    }
    const all = texts.join('\n');
    expect(all).toContain(anaVisit.id);
    for (const secret of [flag.id, legalTask.id, legalMessage.id, 'suspected abuse', 'do not disclose', 'police informed']) {
      expect(all).not.toContain(secret);
    }
    const gql = JSON.stringify(await family.graphql(`{ FlagList(subject: "Patient/${ana.id}") { id code { text } } }`).catch((e) => e));
    expect(gql).not.toContain(flag.id);
    expect(gql).not.toContain('suspected abuse');
    const everything = JSON.stringify(
      await family.get(family.fhirUrl('Patient', ana.id, '$everything'), { cache: 'no-cache' }).catch((e) => e),
    );
    expect(everything).not.toContain(flag.id);
    expect(everything).not.toContain('suspected abuse');
    // The first GraphQL query builds the schema: seconds of CPU on a loaded machine.
  }, 90_000);

  test('the websocket pushes the messages released to them, never a restricted one', async () => {
    const received = pushedToFamily;
    let connected = false;
    const emitter = family.subscribeToCriteria(`Communication?recipient=RelatedPerson/${anaSister.id}`);
    emitter.addEventListener('connect', () => {
      connected = true;
    });
    emitter.addEventListener('message', (e) => received.push(e.payload as Bundle));
    for (let i = 0; i < 250 && !connected; i++) await sleep(20);
    expect(connected).toBe(true);
    const hidden = await t.medplum.createResource<Communication>({
      resourceType: 'Communication',
      meta: { security: [RESTRICTED] },
      status: 'completed',
      recipient: [{ reference: `RelatedPerson/${anaSister.id}` }],
      payload: [{ contentString: 'legal hold: restricted' }],
    });
    const released = await doctor.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      recipient: [{ reference: `RelatedPerson/${anaSister.id}` }],
      payload: [{ contentString: 'Ana is comfortable and waiting for the doctor.' }],
    });
    for (let i = 0; i < 250 && received.length < 1; i++) await sleep(20);
    await sleep(500);
    const pushed = received.map((b) => b.entry?.[1]?.resource?.id);
    expect(pushed).toEqual([released.id]);
    expect(JSON.stringify(received)).not.toContain(hidden.id);
    // They may subscribe only to their own messages and visit, not e.g. to Flags.
    const flagSub = await failure(
      family.createResource({
        resourceType: 'Subscription',
        status: 'active',
        reason: 'x',
        criteria: 'Flag',
        channel: { type: 'websocket' },
      }),
    );
    expect(flagSub.status).toBeGreaterThanOrEqual(400);
  });
});

describe('$family-status', () => {
  test('answers the phase and the expected wait from the queue, with no clinical detail', async () => {
    const s = await status(family, ana);
    expect(s.phase).toBe('arrived');
    expect(s.patientName).toBe('Ana Rivera');
    expect(s.encounter).toBe(`Encounter/${anaVisit.id}`);
    // Ahead of Ana: the acuity-2 arrival and Bo (acuity 3, earlier); one pickup every 30 min → 90 min.
    expect(s.patientsAhead).toBe(2);
    expect(s.waitBasis).toBe('throughput');
    expect(s.expectedWaitMinutes).toBe(90);
    const metadata = (await t.medplum.get(t.medplum.fhirUrl('metadata'))) as CapabilityStatement;
    const patientOps = metadata.rest?.[0].resource?.find((r) => r.type === 'Patient')?.operation?.map((o) => o.name);
    expect(patientOps).toEqual(expect.arrayContaining(['invite-family', 'family-status']));
    const raw = JSON.stringify(await family.get(family.fhirUrl('Patient', ana.id, '$family-status'), { cache: 'no-cache' }));
    expect(raw).not.toMatch(/police|assault|Restricted|esi/i);
  });

  test('follows the visit: provider → being seen, open order → waiting for results, admission, discharge', async () => {
    anaVisit = await doctor.updateResource({
      ...anaVisit,
      status: 'in-progress',
      participant: [{ type: [{ coding: [{ code: 'ATND' }] }], period: { start: new Date().toISOString() } }],
    });
    expect((await status(family, ana)).phase).toBe('being-seen');
    const order = await doctor.createResource<ServiceRequest>({
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      code: { text: 'CT head' },
      subject: { reference: `Patient/${ana.id}` },
      encounter: { reference: `Encounter/${anaVisit.id}` },
    });
    const waiting = await status(family, ana);
    expect(waiting.phase).toBe('waiting-for-results');
    expect(JSON.stringify(waiting)).not.toContain('CT head');
    await doctor.updateResource({ ...order, status: 'completed' });
    expect((await status(family, ana)).phase).toBe('being-seen');
    anaVisit = await doctor.updateResource({ ...anaVisit, status: 'finished' });
    expect((await status(family, ana)).phase).toBe('discharged');
    await t.medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { code: 'IMP' },
      subject: { reference: `Patient/${ana.id}` },
      partOf: { reference: `Encounter/${anaVisit.id}` },
    });
    expect((await status(family, ana)).phase).toBe('admitted');
  });

  test('refuses another patient, and tells a clinician only about patients they may read', async () => {
    const other = await failure(family.get(family.fhirUrl('Patient', bo.id, '$family-status'), { cache: 'no-cache' }));
    expect(other.status).toBe(403);
    const unknown = await failure(family.get(family.fhirUrl('Patient', 'no-such-patient', '$family-status'), { cache: 'no-cache' }));
    expect(unknown.status).toBe(403);
    expect((await status(otherFamily, bo)).phase).toBe('arrived');
    expect((await status(doctor, bo)).phase).toBe('arrived');
    expect((await failure(doctor.get(doctor.fhirUrl('Patient', 'no-such-patient', '$family-status'), { cache: 'no-cache' }))).status).toBe(
      404,
    );
  });
});

describe('a restricted visit', () => {
  test('counts as no visit: $family-status never reports a legally flagged encounter', async () => {
    const hidden = await t.medplum.createResource<Encounter>({
      ...visit(bo, 1),
      meta: { security: [RESTRICTED] },
      status: 'in-progress',
    });
    const s = await status(otherFamily, bo);
    expect(s.encounter).toBe(`Encounter/${boVisit.id}`);
    expect(s.phase).toBe('arrived');
    expect(JSON.stringify(s)).not.toContain(hidden.id);
    expect((await failure(otherFamily.readResource('Encounter', hidden.id))).status).toBe(404);
  });
});

describe('revoking the consent', () => {
  test('cuts every route at once: reads, searches, the status operation', async () => {
    expect((await family.searchResources('Communication', {}, { cache: 'no-cache' })).length).toBeGreaterThan(0);
    await t.medplum.updateResource({ ...anaConsent, status: 'inactive' });
    // The server drops cached contexts on a Consent write (through the change feed, so well before
    // the 5 s context cache would expire): allow for the feed's latency only.
    let cut = false;
    for (let i = 0; i < 60 && !cut; i++) {
      cut = await family.searchResources('Encounter', {}, { cache: 'no-cache' }).then(
        () => false,
        () => true,
      );
      if (!cut) await sleep(50);
    }
    expect(cut).toBe(true);
    expect((await failure(family.searchResources('Communication', {}, { cache: 'no-cache' }))).status).toBe(403);
    const refused = await failure(family.get(family.fhirUrl('Patient', ana.id, '$family-status'), { cache: 'no-cache' }));
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/No consent on file/);
    // The other family is untouched.
    expect((await status(otherFamily, bo)).phase).toBe('arrived');
    // Nor does the websocket push them anything more.
    const before = pushedToFamily.length;
    const after = await doctor.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      recipient: [{ reference: `RelatedPerson/${anaSister.id}` }],
      payload: [{ contentString: 'Sent after the consent was revoked.' }],
    });
    await sleep(1500);
    expect(pushedToFamily.slice(before).map((b) => b.entry?.[1]?.resource?.id)).not.toContain(after.id);
    expect(JSON.stringify(pushedToFamily)).not.toContain('after the consent was revoked');
  });
});
