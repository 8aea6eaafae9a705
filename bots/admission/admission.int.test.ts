/**
 * The admission agent through the real server, with the emergency workflow running (the other
 * steps are fixture agents): a returning patient found despite a misspelt name (the arrival's
 * record merged into theirs, bed by acuity, insurance eligibility from a fake payer); twins kept
 * apart; an unknown trauma patient with a temporary identity, merged later by a registration clerk
 * through Patient/$merge-temporary; an ID-card photo that does not match the record, read by the
 * server's OCR; a payer that does not answer; a grey-zone match confirmed by the clerk.
 */
import { resolve } from 'node:path';
import { MedplumClient, type WithId } from '@medplum/core';
import type {
  Binary,
  Bot,
  Coverage,
  CoverageEligibilityResponse,
  DetectedIssue,
  Encounter,
  Location,
  Observation,
  Parameters,
  Patient,
  Project,
  Provenance,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { createUser } from '../../server/auth/admin.ts';
import { type FakePayer, startFakePayer } from '../../test/fakes/payer.ts';
import { renderIdCard } from '../../test/id-card-image.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { deployFixtureAgents, waitFor } from '../../test/workflow-agents.ts';
import { priorityForEsi } from '../lib/acuity.ts';
import { BOT_SYSTEM, STEP_CODES, stepOf } from '../lib/workflow.ts';
import {
  BED_STATUS_SYSTEM,
  BED_ZONE_SYSTEM,
  CONFIRM_MATCH_TASK,
  DOCUMENT_TYPE_SYSTEM,
  ID_MISMATCH_ISSUE,
  TEMPORARY_IDENTITY_TAG,
} from './codes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PASSWORD = 'correct horse battery staple';
let t: TestServer;
let payer: FakePayer;
let clerk: MedplumClient;
let clerkRef: string;
const beds = new Map<string, WithId<Location>>();
let catherine: WithId<Patient>;
let liam: WithId<Patient>;
let luc: WithId<Patient>;

const ref = (r: { resourceType: string; id?: string }) => `${r.resourceType}/${r.id}`;
const output = (task: Task, type: string) => task.output?.find((o) => o.type?.text === type);
const rationaleOf = (task: Task) => output(task, 'rationale')?.valueString ?? '';
const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

async function arrive(
  patient: Patient,
  esi: number,
  complaint: string,
): Promise<{ encounter: WithId<Encounter>; step: Task; arrival: WithId<Patient> }> {
  const arrival = await t.medplum.createResource<Patient>(patient);
  const encounter = await t.medplum.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: ref(arrival) },
    priority: priorityForEsi(esi),
    period: { start: new Date().toISOString() },
    reasonCode: [{ text: complaint }],
  });
  const step = await waitFor(
    async () => {
      const tasks = await t.medplum.searchResources('Task', { focus: ref(encounter), _count: '20' }, { cache: 'no-cache' });
      const admission = tasks.find((x) => stepOf(x) === 'admission');
      return admission?.status === 'completed' || admission?.status === 'failed' ? admission : undefined;
    },
    60_000,
    'the admission step',
  );
  expect(step.status, step.statusReason?.text).toBe('completed');
  return { encounter: await t.medplum.readResource('Encounter', encounter.id, { cache: 'no-cache' }), step, arrival };
}

async function callError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: { details?: { text?: string }; diagnostics?: string }[] } }).outcome;
    return outcome?.issue?.[0]?.details?.text ?? outcome?.issue?.[0]?.diagnostics ?? String(err);
  }
}

function bed(name: string, zone: string, area: string): Location {
  return {
    resourceType: 'Location',
    name,
    status: 'active',
    mode: 'instance',
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'bd' }] },
    type: [{ coding: [{ system: BED_ZONE_SYSTEM, code: zone }] }],
    operationalStatus: { system: BED_STATUS_SYSTEM, code: 'U', display: 'Unoccupied' },
    partOf: { reference: area },
  };
}

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  payer = await startFakePayer();
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'admission'] });
  await deployFixtureAgents(
    t.medplum,
    STEP_CODES.filter((s) => s !== 'admission'),
  );
  const m = t.medplum;
  const project = (await m.readResource('Project', t.server.bootstrap.project.id as string)) as WithId<Project>;
  await m.updateResource<Project>({
    ...project,
    secret: [
      { name: 'PAYER_ELIGIBILITY_URL', valueString: `${payer.url}/eligibility` },
      { name: 'PAYER_TIMEOUT_MS', valueString: '1500' },
    ],
  });
  const membership = await createUser(t.server.app.repo(), project, {
    email: 'clerk@example.org',
    password: PASSWORD,
    firstName: 'Rita',
    lastName: 'Registrar',
    role: 'registration-clerk',
  });
  clerkRef = membership.profile?.reference as string;
  clerk = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  await clerk.processCode((await clerk.startLogin({ email: 'clerk@example.org', password: PASSWORD })).code as string);

  const area = await m.createResource<Location>({
    resourceType: 'Location',
    name: 'Emergency department',
    status: 'active',
    mode: 'instance',
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'wa' }] },
  });
  for (const [name, zone] of [
    ['Resus 1', 'resus'],
    ['Resus 2', 'resus'],
    ['Bay 1', 'acute'],
    ['Bay 2', 'acute'],
    ['Fast track 1', 'fast-track'],
  ]) {
    beds.set(name, await m.createResource(bed(name, zone, ref(area))));
  }
  catherine = await m.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Dubois', given: ['Catherine'] }],
    gender: 'female',
    birthDate: '1971-05-09',
    telecom: [{ system: 'phone', value: '+1 (415) 555-0101' }],
    address: [{ line: ['12 Main Street'], city: 'San Francisco', postalCode: '94110' }],
  });
  await m.createResource<Coverage>({
    resourceType: 'Coverage',
    status: 'active',
    beneficiary: { reference: ref(catherine) },
    subscriberId: 'ACME-1001',
    payor: [{ display: 'Acme Health' }],
  });
  liam = await m.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Okafor', given: ['Liam'] }],
    gender: 'male',
    birthDate: '2001-07-14',
    telecom: [{ system: 'phone', value: '212-555-0199' }],
    address: [{ line: ['4 Elm Road'], postalCode: '10001' }],
  });
  luc = await m.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Moreau', given: ['Luc'] }],
    gender: 'male',
    birthDate: '1996-02-03',
  });
  // The project secrets are cached by the bot runtime for a moment.
  await new Promise((r) => setTimeout(r, 2_200));
}, 180_000);

afterAll(async () => {
  await t?.close();
  await payer?.close();
});

test('the agent is deployed with the timeout of medplum.config.json', async () => {
  const bot = (await t.medplum.searchOne('Bot', { identifier: `${BOT_SYSTEM}|admission` }, { cache: 'no-cache' })) as Bot;
  expect(bot.timeout).toBe(60);
});

describe('a returning patient with a misspelt name', () => {
  test('is found, the arrival record merged into theirs, a resus bed for ESI 2, insurance in force', async () => {
    const { encounter, step, arrival } = await arrive(
      {
        resourceType: 'Patient',
        name: [{ family: 'Dubios', given: ['Catherine'] }],
        gender: 'female',
        birthDate: '1971-05-09',
        telecom: [{ system: 'phone', value: '415 555 0101' }],
      },
      2,
      'chest pain',
    );
    const rationale = rationaleOf(step);
    expect(rationale).toContain(`Linked to Patient/${catherine.id}`);
    expect(rationale).toContain('family name misspelt');
    expect(rationale).toContain('same phone number');
    expect(output(step, 'patient record')?.valueReference?.reference).toBe(ref(catherine));
    // The encounter now belongs to the existing record; the arrival's record points to it.
    expect(encounter.subject?.reference).toBe(ref(catherine));
    const merged = await t.medplum.readResource('Patient', arrival.id, { cache: 'no-cache' });
    expect(merged.active).toBe(false);
    expect(merged.link).toEqual([{ other: { reference: ref(catherine) }, type: 'replaced-by' }]);
    const survivor = await t.medplum.readResource('Patient', catherine.id, { cache: 'no-cache' });
    expect(survivor.link).toEqual([{ other: { reference: ref(arrival) }, type: 'replaces' }]);
    const provenance = (await t.medplum.readReference({
      reference: output(step, 'merge provenance')?.valueReference?.reference as string,
    })) as Provenance;
    expect(provenance.target.map((x) => x.reference)).toContain(ref(encounter));
    expect(provenance.reason?.[0].text).toContain('Master patient index');

    // Bed by acuity, and the bed is now occupied.
    const resus1 = beds.get('Resus 1') as WithId<Location>;
    expect(encounter.location?.[0]).toMatchObject({ location: { reference: ref(resus1) }, status: 'active' });
    expect((await t.medplum.readResource('Location', resus1.id, { cache: 'no-cache' })).operationalStatus?.code).toBe('O');
    expect(rationale).toContain('ESI 2 → resus bed Resus 1');

    // Insurance: the payer was asked about the member on file; its answer is kept for billing.
    const response = (await t.medplum.readReference({
      reference: output(step, 'eligibility response')?.valueReference?.reference as string,
    })) as CoverageEligibilityResponse;
    expect(response.outcome).toBe('complete');
    expect(response.insurance?.[0].inforce).toBe(true);
    expect(response.patient.reference).toBe(ref(catherine));
    expect(response.request.reference).toBe(output(step, 'eligibility request')?.valueReference?.reference);
    const sent = JSON.parse(payer.requests.at(-1)?.body ?? '{}');
    expect(sent.contained.find((r: Coverage) => r.resourceType === 'Coverage').subscriberId).toBe('ACME-1001');
    expect(rationale).toContain('coverage in force');
  }, 90_000);
});

describe('twins', () => {
  test('same birth date, surname, phone and address, different given name: a new patient, not merged', async () => {
    const { encounter, step, arrival } = await arrive(
      {
        resourceType: 'Patient',
        name: [{ family: 'Okafor', given: ['Noah'] }],
        gender: 'male',
        birthDate: '2001-07-14',
        telecom: [{ system: 'phone', value: '(212) 555-0199' }],
        address: [{ line: ['4 Elm Rd'], postalCode: '10001' }],
      },
      4,
      'sprained ankle',
    );
    expect(encounter.subject?.reference).toBe(ref(arrival));
    expect(output(step, 'new patient')?.valueReference?.reference).toBe(ref(arrival));
    expect(rationaleOf(step)).toContain('possibly a twin');
    const noah = await t.medplum.readResource('Patient', arrival.id, { cache: 'no-cache' });
    expect(noah.active).not.toBe(false);
    expect(noah.link).toBeUndefined();
    expect((await t.medplum.readResource('Patient', liam.id, { cache: 'no-cache' })).link).toBeUndefined();
    expect(
      await t.medplum.searchResources('Task', { code: `${CONFIRM_MATCH_TASK.system}|${CONFIRM_MATCH_TASK.code}`, patient: ref(arrival) }),
    ).toHaveLength(0);
    // ESI 4 goes to fast track.
    expect(encounter.location?.[0].location.reference).toBe(ref(beds.get('Fast track 1') as Location));
  }, 90_000);
});

describe('an unknown trauma patient', () => {
  let encounter: WithId<Encounter>;
  let temp: WithId<Patient>;
  let vital: WithId<Observation>;

  test('gets a temporary identity at once, and a resus bed', async () => {
    const result = await arrive({ resourceType: 'Patient', gender: 'male' }, 1, 'MVC, unresponsive');
    encounter = result.encounter;
    temp = await t.medplum.readResource('Patient', result.arrival.id, { cache: 'no-cache' });
    expect(temp.name?.[0].text).toMatch(/^Trauma Unknown \d{4}$/);
    expect(temp.meta?.tag).toContainEqual(
      expect.objectContaining({ system: TEMPORARY_IDENTITY_TAG.system, code: TEMPORARY_IDENTITY_TAG.code }),
    );
    expect(output(result.step, 'temporary identity')?.valueReference?.reference).toBe(ref(temp));
    expect(encounter.location?.[0].location.reference).toBe(ref(beds.get('Resus 2') as Location));
    vital = await t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      valueQuantity: { value: 128, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      subject: { reference: ref(temp) },
      encounter: { reference: ref(encounter) },
    });
  }, 90_000);

  test('bad merges are refused with the reason', async () => {
    const op = (parameter: Parameters['parameter']) =>
      clerk.post(clerk.fhirUrl('Patient', '$merge-temporary'), { resourceType: 'Parameters', parameter });
    expect(await callError(op([{ name: 'source', valueReference: { reference: ref(temp) } }]))).toContain('"target"');
    expect(
      await callError(
        op([
          { name: 'source', valueReference: { reference: ref(temp) } },
          { name: 'target', valueReference: { reference: ref(temp) } },
        ]),
      ),
    ).toContain('the same patient');
    // A real record is not merged away without a clerk's confirmation task.
    expect(
      await callError(
        op([
          { name: 'source', valueReference: { reference: ref(liam) } },
          { name: 'target', valueReference: { reference: ref(luc) } },
        ]),
      ),
    ).toContain('not a temporary identity');
  }, 30_000);

  test('once identified, the clerk merges the temporary record into the real one: encounter and observations move, audited', async () => {
    const result = (await clerk.post(clerk.fhirUrl('Patient', '$merge-temporary'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'source', valueReference: { reference: ref(temp) } },
        { name: 'target', valueReference: { reference: ref(luc) } },
        { name: 'reason', valueString: 'identified by his sister' },
      ],
    })) as Parameters;
    expect(param(result, 'outcome')?.valueCode).toBe('merged');
    const moved = result.parameter?.filter((p) => p.name === 'moved-resource').map((p) => p.valueReference?.reference);
    expect(moved).toEqual(expect.arrayContaining([ref(encounter), ref(vital)]));
    expect((await t.medplum.readResource('Encounter', encounter.id, { cache: 'no-cache' })).subject?.reference).toBe(ref(luc));
    expect((await t.medplum.readResource('Observation', vital.id, { cache: 'no-cache' })).subject?.reference).toBe(ref(luc));
    const workflowTasks = await t.medplum.searchResources('Task', { focus: ref(encounter), _count: '20' }, { cache: 'no-cache' });
    expect(workflowTasks.every((x) => !x.for || x.for.reference === ref(luc))).toBe(true);
    const old = await t.medplum.readResource('Patient', temp.id, { cache: 'no-cache' });
    expect(old.active).toBe(false);
    expect(old.link?.[0]).toEqual({ other: { reference: ref(luc) }, type: 'replaced-by' });
    const real = await t.medplum.readResource('Patient', luc.id, { cache: 'no-cache' });
    expect(real.link).toContainEqual({ other: { reference: ref(temp) }, type: 'replaces' });
    expect(real.identifier?.find((i) => i.value === temp.name?.[0].text)?.use).toBe('old');
    const provenance = (await t.medplum.readReference({
      reference: param(result, 'provenance')?.valueReference?.reference as string,
    })) as Provenance;
    expect(provenance.agent[0].who.reference).toBe(clerkRef);
    expect(provenance.reason?.[0].text).toContain('identified by his sister');
    const audit = await t.medplum.searchResources('AuditEvent', { entity: ref(temp), _count: '50' }, { cache: 'no-cache' });
    expect(audit.some((a) => a.subtype?.[0]?.code === 'merge' && a.agent?.[0]?.who?.reference === clerkRef)).toBe(true);
    // Again: nothing more happens.
    const again = (await clerk.post(clerk.fhirUrl('Patient', '$merge-temporary'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'source', valueReference: { reference: ref(temp) } },
        { name: 'target', valueReference: { reference: ref(luc) } },
      ],
    })) as Parameters;
    expect(param(again, 'outcome')?.valueCode).toBe('already merged');
  }, 60_000);
});

describe('ID verification and a payer that does not answer', () => {
  test("an ID-card photo read by OCR that disagrees with the record is reported; the payer's silence is a note", async () => {
    const patient: Patient = {
      resourceType: 'Patient',
      name: [{ family: 'Rivera', given: ['Ana'] }],
      gender: 'female',
      birthDate: '1984-02-03',
    };
    // The registration desk photographed the card and entered the insurance before the visit.
    const arrival = await t.medplum.createResource<Patient>(patient);
    const png = await renderIdCard(['CALIFORNIA DRIVER LICENSE', 'DL D7654321', 'LN RIVERA', 'FN ANA', 'DOB 03/02/1985']);
    const binary = (await t.medplum.createBinary({ data: png, contentType: 'image/png' })) as Binary;
    await t.medplum.createResource({
      resourceType: 'DocumentReference',
      status: 'current',
      type: { coding: [{ system: DOCUMENT_TYPE_SYSTEM, code: 'id-card' }] },
      subject: { reference: ref(arrival) },
      content: [{ attachment: { contentType: 'image/png', url: `Binary/${binary.id}` } }],
    });
    await t.medplum.createResource<Coverage>({
      resourceType: 'Coverage',
      status: 'active',
      beneficiary: { reference: ref(arrival) },
      subscriberId: 'SLOW-77',
      payor: [{ display: 'Sluggish Mutual' }],
    });
    payer.failure = 'timeout';
    const { encounter, step } = await (async () => {
      const enc = await t.medplum.createResource<Encounter>({
        resourceType: 'Encounter',
        status: 'arrived',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        subject: { reference: ref(arrival) },
        priority: priorityForEsi(3),
        reasonCode: [{ text: 'abd pain' }],
      });
      const done = await waitFor(
        async () => {
          const tasks = await t.medplum.searchResources('Task', { focus: ref(enc), _count: '20' }, { cache: 'no-cache' });
          const x = tasks.find((task) => stepOf(task) === 'admission');
          return x?.status === 'completed' || x?.status === 'failed' ? x : undefined;
        },
        60_000,
        'the admission step',
      );
      return { encounter: await t.medplum.readResource('Encounter', enc.id, { cache: 'no-cache' }), step: done };
    })();
    payer.failure = 'none';
    expect(step.status, step.statusReason?.text).toBe('completed');
    const rationale = rationaleOf(step);
    const issue = (await t.medplum.readReference({
      reference: output(step, 'ID mismatch')?.valueReference?.reference as string,
    })) as DetectedIssue;
    expect(issue.code?.coding?.[0]).toMatchObject({ code: ID_MISMATCH_ISSUE.code });
    expect(issue.patient?.reference).toBe(ref(arrival));
    expect(issue.detail).toContain('birth date on the document is 1985-03-02, the record has 1984-02-03');
    expect(rationale).toContain('ID: The printed text of DocumentReference/');
    const response = (await t.medplum.readReference({
      reference: output(step, 'eligibility response')?.valueReference?.reference as string,
    })) as CoverageEligibilityResponse;
    expect(response.outcome).toBe('error');
    expect(response.error?.[0].code.text).toBe('the payer did not answer within 1500 ms');
    expect(rationale).toContain('Eligibility not confirmed');
    expect(encounter.location?.[0].location.reference).toBe(ref(beds.get('Bay 1') as Location));
  }, 90_000);
});

describe('a grey-zone match', () => {
  test('a nickname and a transposed birth date: a clerk confirms, and the records are merged', async () => {
    const { step, arrival, encounter } = await arrive(
      { resourceType: 'Patient', name: [{ family: 'Dubois', given: ['Kathy'] }], gender: 'female', birthDate: '1971-09-05' },
      3,
      'headache',
    );
    expect(encounter.subject?.reference).toBe(ref(arrival));
    const taskRef = output(step, 'patient match to confirm')?.valueReference?.reference as string;
    expect(rationaleOf(step)).toContain('needs a clerk');
    // The clerk sees the task, with the candidate and the reasons.
    const task = await clerk.readReference<Task>({ reference: taskRef } as never);
    expect(task.input?.find((i) => i.type.text === 'candidate')?.valueReference?.reference).toBe(ref(catherine));
    expect(task.input?.find((i) => i.type.text === 'reasons')?.valueString).toContain('day and month transposed');
    const result = (await clerk.post(clerk.fhirUrl('Patient', '$merge-temporary'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'source', valueReference: { reference: ref(arrival) } },
        { name: 'target', valueReference: { reference: ref(catherine) } },
        { name: 'task', valueReference: { reference: taskRef } },
      ],
    })) as Parameters;
    expect(param(result, 'outcome')?.valueCode).toBe('merged');
    expect((await t.medplum.readResource('Encounter', encounter.id, { cache: 'no-cache' })).subject?.reference).toBe(ref(catherine));
    expect((await t.medplum.readReference<Task>({ reference: taskRef } as never)).status).toBe('completed');
    expect(encounter.location?.[0].location.reference).toBe(ref(beds.get('Bay 2') as Location));
  }, 90_000);
});
