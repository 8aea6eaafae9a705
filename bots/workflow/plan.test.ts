import type { PlanDefinition, RequestGroup, Task } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import deviceScan from '../../fhir-profiles/workflows/device_scan.json' with { type: 'json' };
import emergency from '../../fhir-profiles/workflows/emergency.json' with { type: 'json' };
import emergencyDevice from '../../fhir-profiles/workflows/emergency_device.json' with { type: 'json' };
import regular from '../../fhir-profiles/workflows/regular.json' with { type: 'json' };
import { STEP_CODES, STEP_SYSTEM } from '../lib/workflow.ts';
import { buildWorkflow, emtalaViolations, planSteps, stepsToReady, workflowEnded, workflowGroup } from './plan.ts';

const PLANS = { emergency, regular, device_scan: deviceScan, emergency_device: emergencyDevice } as Record<string, PlanDefinition>;
const ALL_AGENTS = new Map(STEP_CODES.map((s) => [s, { reference: `Bot/${s}-bot` }]));

function apply(plan: PlanDefinition, agents = ALL_AGENTS) {
  const ctx = {
    plan,
    focus: { reference: 'Encounter/e1' },
    patient: { reference: 'Patient/p1' },
    encounter: { reference: 'Encounter/e1' },
    agents,
    now: '2026-12-02T10:00:00Z',
  };
  const draft = { ...workflowGroup(ctx), id: 'g1', meta: { versionId: 'v1' } };
  const entries = buildWorkflow(ctx, draft);
  const group = entries.at(-1)?.resource as RequestGroup;
  // Give the Tasks ids the way the server resolves the transaction's urn:uuid references.
  const tasks = entries.slice(0, -1).map((e, i) => ({ ...(e.resource as Task), id: `t${i}` }));
  group.action = group.action?.map((a, i) => ({ ...a, resource: { reference: `Task/t${i}` } }));
  return { draft, entries, group, tasks };
}

const byCode = (tasks: Task[], code: string) => tasks.find((t) => t.code?.coding?.[0]?.code === code) as Task;

describe('the shipped workflow definitions', () => {
  test.each(Object.keys(PLANS))('%s is well formed: every step an agent step with a bot, no cycles', (name) => {
    const steps = planSteps(PLANS[name]);
    expect(steps.length).toBeGreaterThan(0);
    for (const step of steps) {
      expect(STEP_CODES).toContain(step.code);
      expect(step.agent?.value).toBe(step.code);
    }
  });

  test.each(Object.keys(PLANS))('%s: registration, insurance and billing never delay a clinical step (EMTALA)', (name) => {
    expect(emtalaViolations(planSteps(PLANS[name]))).toEqual([]);
  });

  test('emergency: triage first, every other step after it, billing last', () => {
    const steps = planSteps(emergency as PlanDefinition);
    expect(steps.find((s) => s.code === 'triage')?.after).toEqual([]);
    for (const step of steps.filter((s) => s.code !== 'triage')) {
      expect(step.after.length).toBeGreaterThan(0);
    }
    expect(steps.find((s) => s.code === 'billing')?.after.sort()).toEqual(
      ['admission', 'communication', 'legal', 'medical-records', 'scheduling', 'smart-device'].sort(),
    );
    expect(
      steps
        .filter((s) => s.emtalaGated)
        .map((s) => s.code)
        .sort(),
    ).toEqual(['admission', 'billing']);
  });
});

describe('planSteps refuses broken plans', () => {
  const step = (id: string, after: string[] = []) => ({
    id,
    code: [{ coding: [{ system: STEP_SYSTEM, code: 'triage' }] }],
    relatedAction: after.map((actionId) => ({ actionId, relationship: 'after-end' as const })),
  });
  test('a cycle', () => {
    const plan: PlanDefinition = {
      resourceType: 'PlanDefinition',
      status: 'active',
      url: 'x',
      action: [step('a', ['b']), step('b', ['a'])],
    };
    expect(() => planSteps(plan)).toThrow(/cycle/);
  });
  test('an unknown dependency', () => {
    const plan: PlanDefinition = { resourceType: 'PlanDefinition', status: 'active', url: 'x', action: [step('a', ['zzz'])] };
    expect(() => planSteps(plan)).toThrow(/unknown step "zzz"/);
  });
  test('a duplicate id', () => {
    const plan: PlanDefinition = { resourceType: 'PlanDefinition', status: 'active', url: 'x', action: [step('a'), step('a')] };
    expect(() => planSteps(plan)).toThrow(/duplicate/);
  });
  test('EMTALA: a clinical step waiting for billing is reported', () => {
    const billing = {
      ...step('billing'),
      extension: [{ url: 'https://emergisphere.dev/fhir/StructureDefinition/emtala-gated', valueBoolean: true }],
    };
    const plan: PlanDefinition = {
      resourceType: 'PlanDefinition',
      status: 'active',
      url: 'x',
      action: [billing, step('triage', ['billing'])],
    };
    expect(emtalaViolations(planSteps(plan))).toEqual(['triage waits for billing']);
  });
});

describe('applyPlan', () => {
  test('a draft RequestGroup claims the instance; the build creates one Task per step under If-Match', () => {
    const { draft, entries, group, tasks } = apply(emergency as PlanDefinition);
    expect(draft.status).toBe('draft');
    expect(draft.identifier?.[0]).toEqual({
      system: 'https://emergisphere.dev/fhir/workflow-instance',
      value: 'https://emergisphere.dev/fhir/PlanDefinition/emergency|Encounter/e1',
    });
    expect(entries).toHaveLength(9);
    expect(entries.slice(0, -1).every((e) => e.request?.method === 'POST' && e.request.url === 'Task')).toBe(true);
    expect(entries.at(-1)?.request).toEqual({ method: 'PUT', url: 'RequestGroup/g1', ifMatch: 'W/"v1"' });
    expect(group.status).toBe('active');
    expect(byCode(tasks, 'triage').status).toBe('ready');
    for (const t of tasks.filter((x) => x !== byCode(tasks, 'triage'))) {
      expect(t.status).toBe('draft');
    }
    expect(byCode(tasks, 'triage').owner).toEqual({ reference: 'Bot/triage-bot' });
    expect(byCode(tasks, 'triage').basedOn).toEqual([{ reference: 'RequestGroup/g1' }]);
    expect(byCode(tasks, 'triage').focus).toEqual({ reference: 'Encounter/e1' });
    expect(byCode(tasks, 'billing').note?.[0]?.text).toMatch(/EMTALA/);
  });

  test('a step without a deployed agent fails at once and does not block its dependants', () => {
    const agents = new Map(ALL_AGENTS);
    agents.delete('triage');
    const { tasks } = apply(emergency as PlanDefinition, agents);
    expect(byCode(tasks, 'triage').status).toBe('failed');
    expect(byCode(tasks, 'triage').statusReason?.text).toMatch(/No agent is deployed for step "triage"/);
    expect(byCode(tasks, 'admission').status).toBe('ready');
    expect(byCode(tasks, 'legal').status).toBe('ready');
    expect(byCode(tasks, 'billing').status).toBe('draft');
  });

  test('with no agent at all the workflow is complete from the start', () => {
    const { group } = apply(emergency as PlanDefinition, new Map());
    expect(group.status).toBe('completed');
  });
});

describe('stepsToReady and workflowEnded', () => {
  test('after triage the independent steps start together; billing waits for all of them', () => {
    const { group, tasks } = apply(emergency as PlanDefinition);
    byCode(tasks, 'triage').status = 'completed';
    const ready = stepsToReady(group, tasks)
      .map((t) => t.code?.coding?.[0]?.code)
      .sort();
    expect(ready).toEqual(['admission', 'communication', 'legal', 'medical-records', 'smart-device']);
    for (const code of ready) byCode(tasks, code as string).status = 'completed';
    expect(stepsToReady(group, tasks).map((t) => t.code?.coding?.[0]?.code)).toEqual(['scheduling']);
    byCode(tasks, 'scheduling').status = 'cancelled'; // skipped by a clinician: counts as ended
    expect(stepsToReady(group, tasks).map((t) => t.code?.coding?.[0]?.code)).toEqual(['billing']);
    expect(workflowEnded(group, tasks)).toBe(false);
    byCode(tasks, 'billing').status = 'failed';
    expect(workflowEnded(group, tasks)).toBe(true);
  });

  test('a failed dependency still lets the rest go on', () => {
    const { group, tasks } = apply(emergency as PlanDefinition);
    byCode(tasks, 'triage').status = 'failed';
    expect(stepsToReady(group, tasks)).toHaveLength(5);
  });
});
