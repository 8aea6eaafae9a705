/**
 * The medical records agent through the real server: an EMER arrival starts the emergency
 * workflow; when its medical-records Task becomes ready the bot (its own Subscription and role)
 * reads the record with $everything, writes the patient summary linked to the encounter, raises
 * the critical-allergy alert and an AI summary (fake OpenAI); an amoxicillin order placed later
 * is caught against the penicillin allergy by the order Subscription, and its prescriber is told.
 */
import { resolve } from 'node:path';
import type { WithId } from '@medplum/core';
import type {
  AllergyIntolerance,
  CareTeam,
  CommunicationRequest,
  Composition,
  DetectedIssue,
  DocumentReference,
  Encounter,
  MedicationRequest,
  Patient,
  Practitioner,
  Project,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { type FakeOpenAi, startFakeOpenAi } from '../../test/fakes/openai.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { deployFixtureAgents, waitFor } from '../../test/workflow-agents.ts';
import { ES, STEP_CODES, stepOf } from '../lib/workflow.ts';
import { ACT_CODE, ALERT_SYSTEM } from './alerts.ts';
import { RXNORM } from './drugs.ts';
import { LOINC, SECTIONS } from './summary.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const HOUR = 3_600_000;
let t: TestServer;
let openai: FakeOpenAi;
let patient: WithId<Patient>;
let prescriber: WithId<Practitioner>;
let allergy: WithId<AllergyIntolerance>;

const ref = (r: { resourceType: string; id?: string }) => `${r.resourceType}/${r.id}`;

async function stepTask(encounter: Encounter, step: string): Promise<Task> {
  return waitFor(
    async () => {
      const tasks = await t.medplum.searchResources('Task', { focus: ref(encounter), _count: '20' }, { cache: 'no-cache' });
      const task = tasks.find((x) => stepOf(x) === step);
      return task && (task.status === 'completed' || task.status === 'failed') ? task : undefined;
    },
    45_000,
    `the ${step} step to end`,
  );
}

/** Successful subscription deliveries of a resource (any version), from their AuditEvents. */
async function deliveries(resource: string): Promise<number> {
  const audits = await t.medplum.searchResources(
    'AuditEvent',
    { entity: resource, subtype: 'https://emergisphere.org/fhir/CodeSystem/audit-event-subtype|subscription-delivery', _count: '50' },
    { cache: 'no-cache' },
  );
  return audits.filter((a) => a.outcome === '0').length;
}

async function issues(patientRef: string): Promise<DetectedIssue[]> {
  return t.medplum.searchResources('DetectedIssue', { patient: patientRef, _count: '50' }, { cache: 'no-cache' });
}

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  openai = await startFakeOpenAi();
  openai.setBehaviour({ kind: 'content', content: 'High-criticality penicillin allergy with anaphylaxis [S2]. Asthma [S1].' });
  const project = (await t.medplum.readResource('Project', t.server.bootstrap.project.id as string)) as Project;
  await t.medplum.updateResource<Project>({
    ...project,
    secret: [
      { name: 'OPENAI_API_KEY', valueString: 'sk-fake' },
      { name: 'OPENAI_BASE_URL', valueString: openai.baseURL },
      { name: 'OPENAI_MODEL', valueString: 'gpt-fake' },
    ],
  });
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'medical-records'] });
  await deployFixtureAgents(
    t.medplum,
    STEP_CODES.filter((s) => s !== 'medical-records'),
  );
  prescriber = await t.medplum.createResource<Practitioner>({
    resourceType: 'Practitioner',
    name: [{ family: 'Grey', given: ['Meredith'] }],
  });
  const oncall = await t.medplum.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Webber' }] });
  await t.medplum.createResource<CareTeam>({
    resourceType: 'CareTeam',
    status: 'active',
    name: 'ED physicians on call',
    identifier: [{ system: `${ES}/on-call`, value: 'ed-physician' }],
    participant: [
      {
        member: { reference: ref(oncall) },
        period: { start: new Date(Date.now() - HOUR).toISOString(), end: new Date(Date.now() + HOUR).toISOString() },
      },
    ],
  });
  patient = await t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Moreau', given: ['Luc'] }],
    birthDate: '1968-03-14',
  });
  const P = { reference: ref(patient) };
  allergy = await t.medplum.createResource<AllergyIntolerance>({
    resourceType: 'AllergyIntolerance',
    patient: P,
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }],
    },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '91936005', display: 'Allergy to penicillin' }], text: 'Penicillin' },
    criticality: 'high',
    reaction: [{ manifestation: [{ text: 'anaphylaxis' }], severity: 'severe' }],
  });
  await t.medplum.createResource({
    resourceType: 'Condition',
    subject: P,
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { text: 'Asthma' },
  });
  await t.medplum.createResource({
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: P,
    period: { start: '2024-11-02T10:00:00Z', end: '2024-11-02T10:30:00Z' },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([t?.close(), openai?.close()]);
});

describe('the medical records agent', () => {
  let encounter: WithId<Encounter>;

  test('on arrival: a summary linked to the encounter, the critical allergy, an AI summary labelled as such', async () => {
    encounter = await t.medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'arrived',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      subject: { reference: ref(patient) },
      period: { start: new Date().toISOString() },
      reasonCode: [{ text: 'shortness of breath' }],
    });
    const task = await stepTask(encounter, 'medical-records');
    expect(task.status, task.statusReason?.text).toBe('completed');
    const summaryRef = task.output?.find((o) => o.type?.text === 'patient summary')?.valueReference?.reference as string;
    const summary = await t.medplum.readReference<Composition>({ reference: summaryRef });
    expect(summary.type.coding?.[0]).toMatchObject({ system: LOINC, code: '60591-5' });
    expect(summary.encounter?.reference).toBe(ref(encounter));
    const allergies = summary.section?.find((s) => s.code?.coding?.[0]?.code === SECTIONS.allergies.code);
    expect(allergies?.entry?.map((e) => e.reference)).toEqual([ref(allergy)]);
    expect(allergies?.text?.div).toContain('Penicillin (criticality high, confirmed; anaphylaxis, severe)');
    const prior = summary.section?.find((s) => s.code?.coding?.[0]?.code === SECTIONS.encounters.code);
    expect(prior?.entry).toHaveLength(1);
    expect(prior?.entry?.[0].reference).not.toBe(ref(encounter));

    const critical = (await issues(ref(patient))).filter((i) =>
      i.code?.coding?.some((c) => c.system === ALERT_SYSTEM && c.code === 'critical-allergy'),
    );
    expect(critical).toHaveLength(1);
    expect(critical[0].implicated?.[0].reference).toBe(ref(allergy));
    expect(task.output?.find((o) => o.type?.text === 'rationale')?.valueString).toMatch(/Critical allergy: Penicillin/);

    const aiRef = task.output?.find((o) => o.type?.text?.startsWith('AI-generated summary'))?.valueReference?.reference as string;
    const ai = await t.medplum.readReference<DocumentReference>({ reference: aiRef });
    expect(ai.meta?.tag?.some((tag) => tag.code === 'ai-generated')).toBe(true);
    expect(ai.context?.related?.[0].reference).toBe(summaryRef);
    const text = Buffer.from(ai.content[0].attachment.data as string, 'base64').toString('utf8');
    expect(text).toMatch(/^AI-GENERATED SUMMARY \(gpt-fake/);
    expect(text).toContain(`[S2] ${ref(allergy)}`);
    // The model saw the summary's facts, not the patient's name.
    const sent = JSON.stringify(openai.requests.at(-1)?.body);
    expect(sent).toContain('Penicillin');
    expect(sent).not.toContain('Moreau');
  });

  test('an amoxicillin order placed later: drug-allergy conflict raised once, the prescriber told', async () => {
    const order = await t.medplum.createResource<MedicationRequest>({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: ref(patient) },
      encounter: { reference: ref(encounter) },
      requester: { reference: ref(prescriber) },
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '723', display: 'amoxicillin 500 MG Oral Capsule' }] },
    });
    const conflict = await waitFor(
      async () => (await issues(ref(patient))).find((i) => i.implicated?.some((x) => x.reference === ref(order))),
      30_000,
      'the drug-allergy alert',
    );
    expect(conflict.code?.coding?.[0]).toMatchObject({ system: ACT_CODE, code: 'ALGY' });
    expect(conflict.severity).toBe('high');
    expect(conflict.implicated?.map((x) => x.reference)).toEqual([ref(order), ref(allergy)]);
    expect(conflict.detail).toMatch(/Penicillins.*anaphylaxis/);
    const notice = await waitFor(async () =>
      (await t.medplum.searchResources('CommunicationRequest', { subject: ref(patient) }, { cache: 'no-cache' })).find((c) =>
        c.about?.some((a) => a.reference === ref(conflict)),
      ),
    );
    expect(notice.recipient?.[0].reference).toBe(ref(prescriber));
    expect((notice as CommunicationRequest).priority).toBe('urgent');

    // Put on hold and re-activated: checked again, but the same conflict is not raised twice.
    const held = await t.medplum.updateResource<MedicationRequest>({ ...order, status: 'on-hold' });
    await t.medplum.updateResource<MedicationRequest>({ ...held, status: 'active' });
    await waitFor(async () => ((await deliveries(ref(order))) >= 2 ? true : undefined), 30_000, 'the second check');
    const same = (await issues(ref(patient))).filter((i) => i.implicated?.some((x) => x.reference === ref(order)));
    expect(same).toHaveLength(1);
    const notices = await t.medplum.searchResources('CommunicationRequest', { subject: ref(patient) }, { cache: 'no-cache' });
    expect(notices.filter((c) => c.about?.some((a) => a.reference === ref(conflict)))).toHaveLength(1);
  });

  test('an order for a patient with no open ED encounter is not checked', async () => {
    const outpatient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Clinic' }] });
    await t.medplum.createResource<AllergyIntolerance>({
      ...allergy,
      id: undefined,
      meta: undefined,
      patient: { reference: ref(outpatient) },
    });
    const order = await t.medplum.createResource<MedicationRequest>({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: ref(outpatient) },
      medicationCodeableConcept: { text: 'amoxicillin 500 mg' },
    });
    await waitFor(async () => ((await deliveries(ref(order))) >= 1 ? true : undefined), 30_000, 'the check of the clinic order');
    expect(await issues(ref(outpatient))).toHaveLength(0);
  });
});
