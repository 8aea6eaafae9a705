/**
 * Workflow plans as pure data transformations: a PlanDefinition applied to a focus becomes a
 * RequestGroup and one Task per step; ended steps make their dependants ready. No I/O here.
 */
import { generateId } from '@medplum/core';
import type {
  BundleEntry,
  Encounter,
  Identifier,
  PlanDefinition,
  PlanDefinitionAction,
  Reference,
  RequestGroup,
  Task,
} from '@medplum/fhirtypes';
import {
  EMTALA_GATED_EXTENSION,
  ENDED_STATUSES,
  STEP_AGENT_EXTENSION,
  STEP_SYSTEM,
  stepCoding,
  WORKFLOW_INSTANCE_SYSTEM,
  WORKFLOW_TASK_PROFILE,
  WORKFLOW_TASK_SYSTEM,
} from '../lib/workflow.ts';

export interface PlanStep {
  /** action.id: unique inside the plan. */
  id: string;
  /** The workflow-step code (the agent's subscription matches it). */
  code: string;
  title: string;
  /** Identifier of the bot that performs the step. */
  agent?: Identifier;
  /** Steps that must have ended first. */
  after: string[];
  emtalaGated: boolean;
}

/** The steps of a plan, checked: unique ids, known dependencies, no cycles. */
export function planSteps(plan: PlanDefinition): PlanStep[] {
  const steps = (plan.action ?? []).map((action: PlanDefinitionAction, i): PlanStep => {
    const code = action.code?.flatMap((c) => c.coding ?? []).find((c) => c.system === STEP_SYSTEM)?.code;
    const id = action.id ?? code;
    if (!id || !code) {
      throw new Error(`${plan.url}: action ${i + 1} needs an id and a ${STEP_SYSTEM} code`);
    }
    return {
      id,
      code,
      title: action.title ?? code,
      agent: action.extension?.find((e) => e.url === STEP_AGENT_EXTENSION)?.valueIdentifier,
      after: (action.relatedAction ?? []).filter((r) => r.relationship === 'after-end').map((r) => r.actionId as string),
      emtalaGated: action.extension?.some((e) => e.url === EMTALA_GATED_EXTENSION && e.valueBoolean === true) ?? false,
    };
  });
  const ids = new Set<string>();
  for (const step of steps) {
    if (ids.has(step.id)) {
      throw new Error(`${plan.url}: duplicate action id "${step.id}"`);
    }
    ids.add(step.id);
  }
  for (const step of steps) {
    for (const dep of step.after) {
      if (!ids.has(dep)) {
        throw new Error(`${plan.url}: step "${step.id}" depends on unknown step "${dep}"`);
      }
    }
  }
  checkAcyclic(plan.url ?? 'plan', steps);
  return steps;
}

function checkAcyclic(name: string, steps: PlanStep[]): void {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      throw new Error(`${name}: steps depend on each other in a cycle (${[...path, id].join(' → ')})`);
    }
    state.set(id, 'visiting');
    for (const dep of byId.get(id)?.after ?? []) visit(dep, [...path, id]);
    state.set(id, 'done');
  };
  for (const step of steps) visit(step.id, []);
}

/**
 * EMTALA as a property of the plan: no step that is not EMTALA-gated may wait (directly or through
 * other steps) for a gated one, so registration, insurance and billing can never delay care.
 * Returns the offending pairs (empty when the plan is safe).
 */
export function emtalaViolations(steps: PlanStep[]): string[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const problems: string[] = [];
  const ancestors = (id: string, seen = new Set<string>()): Set<string> => {
    for (const dep of byId.get(id)?.after ?? []) {
      if (!seen.has(dep)) {
        seen.add(dep);
        ancestors(dep, seen);
      }
    }
    return seen;
  };
  for (const step of steps) {
    if (step.emtalaGated) continue;
    for (const dep of ancestors(step.id)) {
      if (byId.get(dep)?.emtalaGated) problems.push(`${step.id} waits for ${dep}`);
    }
  }
  return problems;
}

export interface ApplyContext {
  plan: PlanDefinition;
  /** The Encounter or Device the workflow is about. */
  focus: Reference & { reference: string };
  patient?: Reference;
  encounter?: Reference<Encounter>;
  /** Bots found for the step agents (by identifier value); a missing agent fails its step at once. */
  agents: Map<string, Reference>;
  now: string;
  /** Who asked (a clinician through $start-workflow, or the workflow bot itself). */
  requester?: Reference;
  /** What makes this instance unique besides the plan (default: the focus); a request Task adds its own id. */
  instanceKey?: string;
}

/** The identifier of a workflow instance: one per plan and focus. */
export function instanceIdentifier(planUrl: string, key: string): Identifier {
  return { system: WORKFLOW_INSTANCE_SYSTEM, value: `${planUrl}|${key}` };
}

function taskIdentifier(planUrl: string, key: string, step: string): Identifier {
  return { system: WORKFLOW_TASK_SYSTEM, value: `${planUrl}|${key}|${step}` };
}

/**
 * The RequestGroup that stands for a workflow instance before its steps exist: created
 * conditionally on its identifier, it is what makes applying the same plan to the same focus twice
 * (a redelivery, a clinician pressing "start" too) start one workflow.
 */
export function workflowGroup(ctx: ApplyContext): RequestGroup {
  const planUrl = ctx.plan.url as string;
  return {
    resourceType: 'RequestGroup',
    identifier: [instanceIdentifier(planUrl, ctx.instanceKey ?? ctx.focus.reference)],
    instantiatesCanonical: [planUrl],
    status: 'draft',
    intent: 'order',
    ...(ctx.patient ? { subject: ctx.patient as RequestGroup['subject'] } : {}),
    ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
    authoredOn: ctx.now,
    ...(ctx.requester ? { author: ctx.requester as RequestGroup['author'] } : {}),
    code: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/plan-definition-type', code: 'workflow-definition' }],
      text: ctx.plan.title,
    },
  };
}

/**
 * The transaction that builds a draft workflow: one Task per step, and the RequestGroup updated
 * with its actions under If-Match, so two concurrent builders cannot both succeed (the loser's
 * transaction fails as a whole and creates no Task). Steps without an agent fail at once; steps
 * whose dependencies have all ended start `ready`, the rest `draft`.
 */
export function buildWorkflow(ctx: ApplyContext, group: RequestGroup & { id: string }): BundleEntry[] {
  const planUrl = ctx.plan.url as string;
  const key = ctx.instanceKey ?? ctx.focus.reference;
  const steps = planSteps(ctx.plan);
  const taskUrns = new Map(steps.map((s) => [s.id, `urn:uuid:${generateId()}`]));
  const status = new Map<string, Task['status']>();
  for (const step of steps) {
    status.set(step.id, step.agent?.value && ctx.agents.has(step.agent.value) ? 'draft' : 'failed');
  }
  for (const step of steps) {
    if (status.get(step.id) === 'draft' && step.after.every((dep) => ENDED_STATUSES.has(status.get(dep) as Task['status']))) {
      status.set(step.id, 'ready');
    }
  }
  const entries: BundleEntry[] = [];
  for (const step of steps) {
    const agent = step.agent?.value ? ctx.agents.get(step.agent.value) : undefined;
    const taskStatus = status.get(step.id) as Task['status'];
    const task: Task = {
      resourceType: 'Task',
      meta: { profile: [WORKFLOW_TASK_PROFILE] },
      identifier: [taskIdentifier(planUrl, key, step.id)],
      status: taskStatus,
      intent: 'order',
      priority: ctx.plan.name === 'emergency' || ctx.plan.name === 'emergency_device' ? 'stat' : 'routine',
      code: { coding: [{ ...stepCoding(step.code), display: step.title }], text: step.title },
      description: step.title,
      basedOn: [{ reference: `RequestGroup/${group.id}` }],
      focus: ctx.focus,
      ...(ctx.patient ? { for: ctx.patient } : {}),
      ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
      authoredOn: ctx.now,
      lastModified: ctx.now,
      ...(ctx.requester ? { requester: ctx.requester as Task['requester'] } : {}),
      // A Bot is not among R4's owner types; the server accepts it (a warning), as Medplum does.
      owner: (agent ?? { identifier: step.agent, display: step.agent?.value ?? step.code }) as Task['owner'],
      ...(taskStatus === 'failed'
        ? {
            statusReason: { text: `No agent is deployed for step "${step.code}" (bot ${step.agent?.value ?? 'not named'})` },
            executionPeriod: { start: ctx.now, end: ctx.now },
          }
        : {}),
      ...(step.emtalaGated ? { note: [{ text: 'EMTALA: never delays medical screening or stabilising treatment.' }] } : {}),
    };
    entries.push({ fullUrl: taskUrns.get(step.id), resource: task, request: { method: 'POST', url: 'Task' } });
  }
  const built: RequestGroup = {
    ...group,
    // With no agent for any step there is nothing left to wait for.
    status: steps.every((s) => status.get(s.id) === 'failed') ? 'completed' : 'active',
    action: steps.map((step) => ({
      id: step.id,
      title: step.title,
      code: [{ coding: [stepCoding(step.code)] }],
      ...(step.after.length ? { relatedAction: step.after.map((actionId) => ({ actionId, relationship: 'after-end' as const })) } : {}),
      resource: { reference: taskUrns.get(step.id) as string },
    })),
  };
  entries.push({
    resource: built,
    request: { method: 'PUT', url: `RequestGroup/${group.id}`, ifMatch: `W/"${group.meta?.versionId}"` },
  });
  return entries;
}

/** `identifier=system|value`, for conditional creates and searches. */
export function identifierQuery(identifier: Identifier): string {
  return new URLSearchParams({ identifier: `${identifier.system}|${identifier.value}` }).toString();
}

/** The step id a Task stands for inside its RequestGroup. */
export function stepIdOf(group: RequestGroup, task: Task): string | undefined {
  return group.action?.find((a) => a.resource?.reference === `Task/${task.id}`)?.id;
}

/**
 * The `draft` Tasks whose dependencies have all ended: they become ready now. Ended includes
 * failed and cancelled (skipped) steps, so one failure does not stop the rest of the workflow.
 */
export function stepsToReady(group: RequestGroup, tasks: Task[]): Task[] {
  const byStep = new Map<string, Task>();
  for (const task of tasks) {
    const id = stepIdOf(group, task);
    if (id) byStep.set(id, task);
  }
  const ready: Task[] = [];
  for (const action of group.action ?? []) {
    const task = action.id ? byStep.get(action.id) : undefined;
    if (task?.status !== 'draft') continue;
    const deps = (action.relatedAction ?? []).filter((r) => r.relationship === 'after-end').map((r) => byStep.get(r.actionId as string));
    if (deps.every((dep) => dep && ENDED_STATUSES.has(dep.status))) {
      ready.push(task);
    }
  }
  return ready;
}

/** Every step has ended: the workflow is complete. */
export function workflowEnded(group: RequestGroup, tasks: Task[]): boolean {
  const steps = group.action?.length ?? 0;
  const ended = tasks.filter((t) => stepIdOf(group, t) && ENDED_STATUSES.has(t.status)).length;
  return steps > 0 && ended >= steps;
}
