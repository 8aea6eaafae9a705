/**
 * The legal liaison agent through the real server, with the workflow running: a gunshot wound
 * in a California hospital → the legal step writes a restricted DetectedIssue and Flag, a report
 * Task for the on-call liaison due within the hour, the legal case and a page; a family member
 * (role family-member, patient parameter) cannot see any of it; the liaison approves → the report
 * as a Communication to the police, the disclosure audited, delivery handed to the communication
 * agent; the case gets its police report number; evidence changes hands with a Provenance each
 * time; a later diagnosis (dog bite) is caught by the re-check.
 */
import { resolve } from 'node:path';
import { MedplumClient, type WithId } from '@medplum/core';
import type {
  AuditEvent,
  CareTeam,
  Communication,
  CommunicationRequest,
  DetectedIssue,
  DocumentReference,
  Encounter,
  Flag,
  Organization,
  Parameters,
  Patient,
  PractitionerRole,
  Project,
  Provenance,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { createUser } from '../../server/auth/admin.ts';
import { familyConsent } from '../../test/family-consent.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { deployFixtureAgents, waitFor } from '../../test/workflow-agents.ts';
import { ES, STEP_CODES, stepOf } from '../lib/workflow.ts';
import { AUTHORITY_SYSTEM, HIPAA_BASIS_SYSTEM, ID, LEGAL_EVENT_SYSTEM, LEGAL_TASK_SYSTEM, PARAM, param } from './fhir.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PASSWORD = 'correct horse battery staple';
const HOUR = 3_600_000;
let t: TestServer;
let hospital: WithId<Organization>;
let police: WithId<Organization>;
let desk: WithId<PractitionerRole>;
let patient: WithId<Patient>;
let liaison: MedplumClient;
let liaisonRef: string;
let family: MedplumClient;

const ref = (r: { resourceType: string; id?: string }) => `${r.resourceType}/${r.id}`;

async function login(email: string): Promise<MedplumClient> {
  const client = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  await client.processCode((await client.startLogin({ email, password: PASSWORD })).code as string);
  return client;
}

async function status(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
    return { status: 200, message: '' };
  } catch (err) {
    const issue = (err as { outcome?: { issue?: { code?: string; details?: { text?: string } }[] } }).outcome?.issue?.[0];
    const code = issue?.code;
    return { status: code === 'forbidden' ? 403 : code === 'not-found' ? 404 : 400, message: issue?.details?.text ?? String(err) };
  }
}

function operation(client: MedplumClient, type: string, code: string, parameter: Parameters['parameter']): Promise<Parameters> {
  return client.post(client.fhirUrl(type, `$${code}`), { resourceType: 'Parameters', parameter }) as Promise<Parameters>;
}

const out = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'legal'] });
  await deployFixtureAgents(
    t.medplum,
    STEP_CODES.filter((s) => s !== 'legal'),
  );
  const m = t.medplum;
  hospital = await m.createResource<Organization>({
    resourceType: 'Organization',
    name: 'Bayside General Hospital',
    address: [{ line: ['1 Harbor Way'], city: 'Oakland', state: 'CA', country: 'US' }],
  });
  police = await m.createResource<Organization>({
    resourceType: 'Organization',
    name: 'Oakland Police Department',
    identifier: [{ system: AUTHORITY_SYSTEM, value: 'US-CA/law-enforcement' }],
  });
  desk = await m.createResource<PractitionerRole>({
    resourceType: 'PractitionerRole',
    organization: { reference: ref(police) },
    code: [{ text: 'OPD hospital reports desk' }],
    telecom: [{ system: 'email', value: 'reports@police.example' }],
  });
  const project = (await m.readResource('Project', t.server.bootstrap.project.id as string)) as WithId<Project>;
  const membership = await createUser(t.server.app.repo(), project, {
    email: 'liaison@example.org',
    password: PASSWORD,
    firstName: 'Lee',
    lastName: 'Liaison',
    role: 'legal-liaison',
  });
  liaisonRef = membership.profile?.reference as string;
  liaison = await login('liaison@example.org');
  await m.createResource<CareTeam>({
    resourceType: 'CareTeam',
    status: 'active',
    name: 'Legal liaison on call',
    identifier: [{ system: `${ES}/on-call`, value: 'legal-liaison' }],
    participant: [
      {
        member: { reference: liaisonRef },
        period: { start: new Date(Date.now() - HOUR).toISOString(), end: new Date(Date.now() + 8 * HOUR).toISOString() },
      },
    ],
  });
  patient = await m.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Moreau', given: ['Luc'] }],
    birthDate: '1996-02-03',
    gender: 'male',
  });
  const brother = await createUser(t.server.app.repo(), project, {
    email: 'brother@example.org',
    password: PASSWORD,
    firstName: 'Marc',
    lastName: 'Moreau',
    role: 'family-member',
    profileType: 'RelatedPerson',
    parameters: { patient: ref(patient) },
  });
  await m.createResource(familyConsent(ref(patient), brother.profile?.reference as string));
  family = await login('brother@example.org');
}, 180_000);

afterAll(async () => {
  await t?.close();
});

describe('a gunshot wound in California', () => {
  let encounter: WithId<Encounter>;
  let issue: DetectedIssue;
  let flag: Flag;
  let report: Task;
  let caseTask: Task;

  test('the legal step: a restricted finding and flag, a report task due within the hour, the case, a page to the liaison', async () => {
    encounter = await t.medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'arrived',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      subject: { reference: ref(patient) },
      serviceProvider: { reference: ref(hospital) },
      period: { start: new Date().toISOString() },
      reasonCode: [{ text: 'GSW to left thigh, bleeding controlled' }],
    });
    const step = await waitFor(
      async () => {
        const tasks = await t.medplum.searchResources('Task', { focus: ref(encounter), _count: '20' }, { cache: 'no-cache' });
        const legal = tasks.find((x) => stepOf(x) === 'legal');
        return legal?.status === 'completed' || legal?.status === 'failed' ? legal : undefined;
      },
      45_000,
      'the legal step',
    );
    expect(step.status, step.statusReason?.text).toBe('completed');
    const rationale = step.output?.find((o) => o.type?.text === 'rationale')?.valueString ?? '';
    expect(rationale).toMatch(/US-CA from the address of Organization\//);
    expect(rationale).toMatch(/Firearm injury \(report, rule US-CA\/ca-firearm-injury; Cal\. Penal Code § 11160/);
    // The step's visible status says nothing about what was found.
    expect(step.businessStatus?.text).toBe('completed');

    const key = `${encounter.id}:gunshot-wound`;
    issue = (await t.medplum.searchOne('DetectedIssue', { identifier: `${ID.finding}|${key}` }, { cache: 'no-cache' })) as DetectedIssue;
    expect(issue.severity).toBe('high');
    expect(issue.meta?.security?.[0]).toMatchObject({ code: 'R' });
    flag = (await t.medplum.searchOne('Flag', { identifier: `${ID.flag}|${key}` }, { cache: 'no-cache' })) as Flag;
    expect(flag.meta?.security?.[0]).toMatchObject({ code: 'R' });
    expect(flag.extension?.[0].valueReference?.reference).toBe(ref(issue));
    report = (await t.medplum.searchOne('Task', { identifier: `${ID.report}|${key}` }, { cache: 'no-cache' })) as Task;
    expect(report.code?.coding?.[0]).toMatchObject({ system: LEGAL_TASK_SYSTEM, code: 'mandatory-report' });
    expect(report.status).toBe('requested');
    expect(report.focus?.reference).toBe(ref(issue));
    const due = Date.parse(report.restriction?.period?.end as string) - Date.parse(report.authoredOn as string);
    expect(due).toBe(HOUR);
    expect(report.owner?.reference).toMatch(/^CareTeam\//);
    expect(param(report.input, PARAM.authority)?.valueReference?.reference).toBe(ref(police));
    caseTask = (await t.medplum.readReference({ reference: report.partOf?.[0].reference as string })) as Task;
    expect(caseTask.code?.coding?.[0].code).toBe('legal-case');
    const page = await t.medplum.searchOne('CommunicationRequest', { 'group-identifier': `${ID.report}|${key}` }, { cache: 'no-cache' });
    expect(page?.recipient?.[0].reference).toBe(report.owner?.reference);
    expect(page?.priority).toBe('stat');
  });

  test('a family member cannot see the flag, the finding or the legal tasks, though they see the visit and its workflow', async () => {
    // What the family may see (the role works): the encounter and the workflow's step Tasks.
    expect((await family.readResource('Encounter', encounter.id)).status).toBeTruthy();
    const visible = await family.searchResources('Task', { patient: ref(patient), _count: '50' }, { cache: 'no-cache' });
    expect(visible.some((x) => stepOf(x) === 'legal')).toBe(true);
    expect(visible.find((x) => stepOf(x) === 'legal')?.output).toBeUndefined();
    // What it may not: the restricted Flag, the finding, the report and case Tasks.
    expect(visible.map((x) => x.id)).not.toContain(report.id);
    expect(visible.map((x) => x.id)).not.toContain(caseTask.id);
    expect((await status(family.readResource('Task', report.id as string))).status).toBe(404);
    expect((await status(family.readResource('Flag', flag.id as string))).status).toBe(403);
    expect((await status(family.searchResources('Flag', { patient: ref(patient) }))).status).toBe(403);
    expect((await status(family.readResource('DetectedIssue', issue.id as string))).status).toBe(403);
    // Staff with the legal role see it.
    expect((await liaison.readResource('Flag', flag.id as string)).id).toBe(flag.id);
  });

  test('the liaison approves: the report to the police as a Communication, the disclosure audited, delivery handed to the communication agent', async () => {
    const result = await operation(liaison, 'Task', 'approve-report', [
      { name: 'task', valueReference: { reference: ref(report) } },
      { name: 'decision', valueCode: 'approve' },
    ]);
    expect(out(result, 'decision')?.valueCode).toBe('approve');
    const communication = (await t.medplum.readReference({
      reference: out(result, 'communication')?.valueReference?.reference as string,
    })) as Communication;
    expect(communication.status).toBe('completed');
    expect(communication.recipient?.[0].reference).toBe(ref(police));
    expect(communication.sender?.reference).toBe(liaisonRef);
    expect(communication.payload?.[0].contentString).toMatch(/^MANDATORY REPORT: Firearm injury/);
    expect(communication.payload?.[0].contentString).toMatch(/Luc Moreau, born 1996-02-03/);
    expect(communication.meta?.security?.[0]).toMatchObject({ code: 'R' });

    // The accounting of disclosures: every disclosure of the patient's information, with its purpose.
    const disclosures = await t.medplum.searchResources(
      'AuditEvent',
      { patient: ref(patient), subtype: `${LEGAL_EVENT_SYSTEM}|disclosure` },
      { cache: 'no-cache' },
    );
    expect(disclosures).toHaveLength(1);
    const audit = disclosures[0] as AuditEvent;
    expect(audit.id).toBe(out(result, 'disclosure')?.valueReference?.reference?.split('/')[1]);
    expect(audit.purposeOfEvent?.[0].coding?.map((c) => c.code)).toEqual(['HLEGAL', '164.512(f)(1)(i)']);
    expect(audit.purposeOfEvent?.[0].coding?.[1].system).toBe(HIPAA_BASIS_SYSTEM);
    expect(audit.agent.map((a) => a.who?.reference)).toEqual([liaisonRef, ref(police)]);

    const provenance = (await t.medplum.readReference({
      reference: out(result, 'provenance')?.valueReference?.reference as string,
    })) as Provenance;
    expect(provenance.agent[0].who?.reference).toBe(liaisonRef);
    const delivery = (await t.medplum.readReference({
      reference: out(result, 'delivery')?.valueReference?.reference as string,
    })) as CommunicationRequest;
    expect(delivery.recipient?.[0].reference).toBe(ref(desk));
    expect(delivery.about?.[0].reference).toBe(ref(communication));

    const decided = await t.medplum.readResource('Task', report.id as string);
    expect(decided.status).toBe('completed');
    expect(decided.relevantHistory?.[0].reference).toBe(ref(provenance));
    expect((await t.medplum.readResource('Task', caseTask.id as string)).businessStatus?.text).toBe(
      'reported to Oakland Police Department',
    );

    const again = await status(
      operation(liaison, 'Task', 'approve-report', [
        { name: 'task', valueReference: { reference: ref(report) } },
        { name: 'decision', valueCode: 'approve' },
      ]),
    );
    expect(again).toMatchObject({ status: 400, message: expect.stringMatching(/already decided/) });
    // The family member is not staff and may not run the operation at all.
    expect(
      (await status(operation(family, 'Task', 'approve-report', [{ name: 'task', valueReference: { reference: ref(report) } }]))).status,
    ).toBeGreaterThanOrEqual(400);
    expect((await status(family.readResource('Communication', communication.id as string))).status).toBe(404);
  });

  test('the case: police report number, an action; evidence handed over with a Provenance each time', async () => {
    const numbered = await operation(liaison, 'Task', 'legal-case-event', [
      { name: 'case', valueReference: { reference: ref(caseTask) } },
      { name: 'event', valueCode: 'police-report' },
      { name: 'value', valueString: 'OPD-25-004211' },
      { name: 'agency', valueReference: { reference: ref(police) } },
    ]);
    expect(out(numbered, 'provenance')?.valueReference?.reference).toMatch(/^Provenance\//);
    const found = await t.medplum.searchOne('Task', { identifier: `${ID.policeReport}|OPD-25-004211` }, { cache: 'no-cache' });
    expect(found?.id).toBe(caseTask.id);
    const acted = await operation(liaison, 'Task', 'legal-case-event', [
      { name: 'case', valueReference: { reference: ref(caseTask) } },
      { name: 'event', valueCode: 'action' },
      { name: 'value', valueString: 'Detective Ruiz interviewed the patient in bay 4' },
    ]);
    const action = (await t.medplum.readReference({ reference: out(acted, 'action')?.valueReference?.reference as string })) as Task;
    expect(action.partOf?.[0].reference).toBe(ref(caseTask));
    expect((await t.medplum.readResource('Task', caseTask.id as string)).relevantHistory?.length).toBe(3);

    const evidence = await liaison.createResource<DocumentReference>({
      resourceType: 'DocumentReference',
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
      status: 'current',
      description: 'Bullet fragment removed from left thigh, sealed bag 117',
      subject: { reference: ref(patient) },
      context: { related: [{ reference: ref(caseTask) }] },
      content: [{ attachment: { title: 'Bullet fragment (physical evidence, locker 3)' } }],
    });
    const handover = (from: object | undefined, to: object) =>
      operation(liaison, 'DocumentReference', 'custody-handover', [
        { name: 'evidence', valueReference: { reference: ref(evidence) } },
        ...(from ? [{ name: 'from', valueReference: from }] : []),
        { name: 'to', valueReference: to },
        { name: 'reason', valueString: 'chain of custody' },
      ]);
    const officer = { identifier: { system: 'https://police.example/badge', value: '4411' }, display: 'Officer Diaz' };
    const collected = await handover(undefined, { reference: liaisonRef });
    expect(out(collected, 'sequence')?.valueInteger).toBe(1);
    const wrong = await status(handover({ display: 'Someone else' }, officer));
    expect(wrong).toMatchObject({ status: 400, message: expect.stringMatching(/held by .*Practitioner\//) });
    const handed = await handover({ reference: liaisonRef }, officer);
    expect(out(handed, 'sequence')?.valueInteger).toBe(2);
    const chain = await t.medplum.searchResources('Provenance', { target: ref(evidence) }, { cache: 'no-cache' });
    expect(chain).toHaveLength(2);
    const second = chain.find((p) => p.id === out(handed, 'provenance')?.valueReference?.reference?.split('/')[1]) as Provenance;
    expect(second.entity?.[0].what.reference).toBe(out(collected, 'provenance')?.valueReference?.reference);
    expect(second.agent.map((a) => a.who?.reference ?? a.who?.display)).toEqual([liaisonRef, 'Officer Diaz', liaisonRef]);
  });

  test('a diagnosis added later is assessed again: a dog bite becomes a new finding, the gunshot is not raised twice', async () => {
    await t.medplum.createResource({
      resourceType: 'Condition',
      subject: { reference: ref(patient) },
      encounter: { reference: ref(encounter) },
      code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'W54.0XXA', display: 'Bitten by dog, initial encounter' }] },
    });
    const bite = await waitFor(
      () => t.medplum.searchOne('DetectedIssue', { identifier: `${ID.finding}|${encounter.id}:animal-bite` }, { cache: 'no-cache' }),
      30_000,
      'the dog-bite finding',
    );
    expect(bite.detail).toMatch(/Cal\. Code Regs\. tit\. 17, § 2606/);
    const findings = await t.medplum.searchResources('DetectedIssue', { patient: ref(patient) }, { cache: 'no-cache' });
    expect(findings.filter((f) => f.identifier?.[0].value?.endsWith(':gunshot-wound'))).toHaveLength(1);
  });
});

test('the family-member role itself hides restricted Tasks and Encounters (criteria on the security label)', async () => {
  const open = await t.medplum.createResource<Task>({
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    for: { reference: ref(patient) },
  });
  const hidden = await t.medplum.createResource<Task>({
    resourceType: 'Task',
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
    status: 'requested',
    intent: 'order',
    for: { reference: ref(patient) },
  });
  expect((await family.readResource('Task', open.id as string)).id).toBe(open.id);
  expect((await status(family.readResource('Task', hidden.id as string))).status).toBe(404);
});
