import { MedplumClient, type WithId } from '@medplum/core';
import type { Encounter, Parameters, Patient, Project, Provenance, RequestGroup, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { createUser } from '../../server/auth/admin.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { deployFixtureAgents, waitFor } from '../../test/workflow-agents.ts';
import { PLAN_URL, START_WORKFLOW, STEP_CODES, stepCoding, stepOf } from '../lib/workflow.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
let t: TestServer;
let patient: WithId<Patient>;

async function arrival(reason = 'chest pain'): Promise<WithId<Encounter>> {
  return t.medplum.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    reasonCode: [{ text: reason }],
  });
}

async function workflowOf(encounter: Encounter): Promise<{ group: RequestGroup; tasks: Task[] }> {
  const bundle = await t.medplum.search(
    'RequestGroup',
    { encounter: `Encounter/${encounter.id}`, _revinclude: 'Task:based-on' },
    { cache: 'no-cache' },
  );
  const resources = (bundle.entry ?? []).map((e) => e.resource as RequestGroup | Task | undefined);
  return {
    group: resources.find((r) => r?.resourceType === 'RequestGroup') as RequestGroup,
    tasks: resources.filter((r): r is Task => r?.resourceType === 'Task'),
  };
}

const task = (tasks: Task[], step: string) => tasks.find((x) => stepOf(x) === step) as Task;

async function finished(encounter: Encounter) {
  return waitFor(
    async () => {
      const w = await workflowOf(encounter);
      return w.group?.status === 'completed' ? w : undefined;
    },
    30_000,
    'the workflow to complete',
  );
}

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'workflow-status'] });
  await deployFixtureAgents(t.medplum, [...STEP_CODES]);
  patient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Ada'] }] });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('the emergency workflow', () => {
  test('an EMER arrival starts it: triage first, independent steps in parallel, billing last, all timed', async () => {
    const encounter = await arrival();
    const { group, tasks } = await finished(encounter);
    expect(group.instantiatesCanonical).toEqual(['https://emergisphere.dev/fhir/PlanDefinition/emergency']);
    expect(tasks).toHaveLength(8);
    for (const x of tasks) {
      expect(x.status).toBe('completed');
      expect(x.owner?.reference).toMatch(/^Bot\//);
      expect(x.focus?.reference).toBe(`Encounter/${encounter.id}`);
      expect(x.for?.reference).toBe(`Patient/${patient.id}`);
      expect(x.executionPeriod?.start).toBeTruthy();
      expect(x.executionPeriod?.end).toBeTruthy();
      expect(x.output?.find((o) => o.type?.text === 'rationale')?.valueString).toMatch(/fixture agent ran/);
    }
    const start = (s: string) => Date.parse(task(tasks, s).executionPeriod?.start as string);
    const end = (s: string) => Date.parse(task(tasks, s).executionPeriod?.end as string);
    for (const s of STEP_CODES.filter((c) => c !== 'triage')) {
      expect(start(s)).toBeGreaterThanOrEqual(end('triage'));
    }
    for (const s of STEP_CODES.filter((c) => c !== 'billing')) {
      expect(start('billing')).toBeGreaterThanOrEqual(end(s));
    }
    expect(start('scheduling')).toBeGreaterThanOrEqual(end('medical-records'));
  }, 60_000);

  test('$start-workflow is idempotent and $workflow-status reports every step with timings', async () => {
    const encounter = await arrival();
    const first = (await t.medplum.post(t.medplum.fhirUrl('Encounter', encounter.id, '$start-workflow'), {})) as RequestGroup;
    const again = (await t.medplum.post(t.medplum.fhirUrl('Encounter', encounter.id, '$start-workflow'), {})) as RequestGroup;
    expect(first.resourceType).toBe('RequestGroup');
    expect(again.id).toBe(first.id);
    await finished(encounter);
    const groups = await t.medplum.searchResources('RequestGroup', { encounter: `Encounter/${encounter.id}` }, { cache: 'no-cache' });
    expect(groups).toHaveLength(1);
    const status = (await t.medplum.get(t.medplum.fhirUrl('Encounter', encounter.id, '$workflow-status'), {
      cache: 'no-cache',
    })) as Parameters;
    const workflow = status.parameter?.[0];
    const steps = workflow?.part?.filter((p) => p.name === 'step') ?? [];
    expect(steps).toHaveLength(8);
    const triage = steps.find((s) => s.part?.find((p) => p.name === 'code')?.valueString === 'triage');
    expect(triage?.part?.find((p) => p.name === 'status')?.valueString).toBe('completed');
    expect(triage?.part?.find((p) => p.name === 'durationMs')?.valueDecimal).toBeGreaterThanOrEqual(0);
    expect(triage?.part?.find((p) => p.name === 'started')?.valueString).toBeTruthy();
  }, 60_000);

  test('a failing step is retried, then marked failed with its reason, and the rest goes on', async () => {
    const encounter = await arrival('fall; fail:legal');
    const { tasks } = await finished(encounter);
    const legal = task(tasks, 'legal');
    expect(legal.status).toBe('failed');
    expect(legal.statusReason?.text).toMatch(/asked to fail legal/);
    expect(legal.businessStatus?.text).toBe('failed after 3 attempts');
    expect(task(tasks, 'billing').status).toBe('completed');
  }, 60_000);
});

describe('a workflow requested through a Task', () => {
  test('starts the plan and completes the request, and the completed request runs the workflow bot no more', async () => {
    const encounter = await arrival('fall at home');
    await finished(encounter);
    const request = await t.medplum.createResource<Task>({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      code: { coding: [stepCoding(START_WORKFLOW)] },
      focus: { reference: `Encounter/${encounter.id}` },
      for: { reference: `Patient/${patient.id}` },
      input: [{ type: { text: 'plan' }, valueCanonical: PLAN_URL('regular') }],
    });
    const done = await waitFor(
      async () => {
        const current = await t.medplum.readResource('Task', request.id, { cache: 'no-cache' });
        return current.status === 'completed' ? current : undefined;
      },
      30_000,
      'the request to complete',
    );
    expect(done.output?.[0]?.valueReference?.reference).toMatch(/^RequestGroup\//);
    // Its completion is no ended step: of every subscription, only "a Task asking for a workflow" took it.
    await new Promise((r) => setTimeout(r, 1_000));
    const deliveries = await t.server.app.repo().query<{ reason: string }>(
      `SELECT s.content::json->>'reason' AS reason FROM subscription_delivery d JOIN resource s ON s.id = d.subscription_id
         WHERE d.resource_type = 'Task' AND d.id = $1`,
      [request.id],
    );
    expect(deliveries.rows.map((r) => r.reason)).toEqual(['workflow: a Task asking for a workflow starts it']);
  }, 60_000);
});

describe('clinician overrides', () => {
  let physician: MedplumClient;
  let project: WithId<Project>;

  beforeAll(async () => {
    project = t.server.bootstrap.project as WithId<Project>;
    await createUser(t.server.app.repo(), project, {
      email: 'dr.house@example.org',
      password: 'correct horse battery staple',
      firstName: 'Greg',
      lastName: 'House',
      role: 'ed-physician',
    });
    physician = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    const login = await physician.startLogin({ email: 'dr.house@example.org', password: 'correct horse battery staple' });
    await physician.processCode(login.code as string);
  });

  const override = (client: MedplumClient, parameter: Parameters['parameter']) =>
    client.post(client.fhirUrl('Encounter', '$workflow-override'), { resourceType: 'Parameters', parameter });

  test('set-acuity writes the ESI and the priority, with a Provenance naming who and why', async () => {
    const encounter = await arrival();
    await finished(encounter);
    const result = (await override(physician, [
      { name: 'encounter', valueReference: { reference: `Encounter/${encounter.id}` } },
      { name: 'action', valueCode: 'set-acuity' },
      { name: 'acuity', valueInteger: 1 },
      { name: 'reason', valueString: 'looks grey and clammy' },
    ])) as Parameters;
    const provenanceRef = result.parameter?.find((p) => p.name === 'provenance')?.valueString as string;
    const provenance = (await t.medplum.readReference({ reference: provenanceRef })) as Provenance;
    expect(provenance.reason?.[0]?.text).toBe('looks grey and clammy');
    expect(provenance.agent[0].who?.reference).toMatch(/^Practitioner\//);
    const after = await t.medplum.readResource('Encounter', encounter.id);
    expect(after.priority?.coding?.[0]).toMatchObject({ system: 'https://emergisphere.dev/fhir/CodeSystem/esi', code: '1' });
    const esi = await t.medplum.searchResources('Observation', { encounter: `Encounter/${encounter.id}` }, { cache: 'no-cache' });
    expect(esi[0].method?.coding?.[0]?.code).toBe('clinician-override');
  }, 60_000);

  test('rerun puts a step back to ready and its agent runs it again; skip cancels with the reason', async () => {
    const encounter = await arrival('fail:legal');
    await finished(encounter);
    await override(physician, [
      { name: 'encounter', valueReference: { reference: `Encounter/${encounter.id}` } },
      { name: 'action', valueCode: 'rerun' },
      { name: 'step', valueCode: 'communication' },
      { name: 'reason', valueString: 'family arrived, notify again' },
    ]);
    const rerun = await waitFor(async () => {
      const { tasks } = await workflowOf(encounter);
      const c = task(tasks, 'communication');
      // The override wrote businessStatus "re-run requested…"; "completed" again means the agent ran it anew.
      return c.status === 'completed' && c.businessStatus?.text === 'completed' ? c : undefined;
    });
    const history = await t.medplum.readHistory('Task', rerun.id as string);
    expect((history.entry ?? []).filter((e) => (e.resource as Task)?.status === 'completed').length).toBeGreaterThanOrEqual(2);

    await override(physician, [
      { name: 'encounter', valueReference: { reference: `Encounter/${encounter.id}` } },
      { name: 'action', valueCode: 'skip' },
      { name: 'step', valueCode: 'legal' },
      { name: 'reason', valueString: 'not a reportable case' },
    ]);
    const { tasks } = await workflowOf(encounter);
    expect(task(tasks, 'legal').status).toBe('cancelled');
    expect(task(tasks, 'legal').statusReason?.text).toMatch(/^Skipped by Practitioner\/.+: not a reportable case$/);
  }, 60_000);

  test('bad requests get precise errors; only clinicians may override', async () => {
    const encounter = await arrival();
    await expect(
      override(physician, [
        { name: 'encounter', valueReference: { reference: `Encounter/${encounter.id}` } },
        { name: 'action', valueCode: 'set-acuity' },
        { name: 'acuity', valueInteger: 9 },
        { name: 'reason', valueString: 'x' },
      ]),
    ).rejects.toThrow(/acuity.*1 to 5/);
    await expect(
      override(physician, [
        { name: 'encounter', valueReference: { reference: `Encounter/${encounter.id}` } },
        { name: 'action', valueCode: 'skip' },
        { name: 'step', valueCode: 'legal' },
      ]),
    ).rejects.toThrow(/reason.*required/);
    // The admin API client is a ClientApplication, not a clinician.
    await expect(
      override(t.medplum, [
        { name: 'encounter', valueReference: { reference: `Encounter/${encounter.id}` } },
        { name: 'action', valueCode: 'set-acuity' },
        { name: 'acuity', valueInteger: 2 },
        { name: 'reason', valueString: 'x' },
      ]),
    ).rejects.toThrow(/Only a clinician/);
  }, 60_000);
});
