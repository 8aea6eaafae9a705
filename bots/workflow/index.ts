/**
 * The workflow runner (docs/workflows.md). One bot, four kinds of input:
 * - an Encounter (EMER arrival, or `Encounter/{id}/$start-workflow`) → start its default plan;
 * - a Device (linked to a patient, or `Device/{id}/$start-workflow`) → start `device_scan`;
 * - a Task: a workflow request (`start-workflow`) → start that plan; a step that ended → advance;
 * - Parameters (`Encounter/$workflow-override`) → a clinician's override.
 */
import {
  type BotEvent,
  createReference,
  getReferenceString,
  getStatus,
  type MedplumClient,
  OperationOutcomeError,
  type WithId,
} from '@medplum/core';
import type { Device, Encounter, Parameters, Reference, RequestGroup, Task } from '@medplum/fhirtypes';
import { ENDED_STATUSES, START_WORKFLOW, stepOf } from '../lib/workflow.ts';
import { applyOverride, type OverrideResult, parseOverride } from './override.ts';
import { advanceWorkflow, defaultPlanFor, startWorkflow } from './run.ts';

type WorkflowInput = Encounter | Device | Task | Parameters;

export async function handler(medplum: MedplumClient, event: BotEvent<WorkflowInput>): Promise<unknown> {
  const input = event.input;
  switch (input?.resourceType) {
    case 'Encounter':
    case 'Device': {
      const focus = input as WithId<Encounter> | WithId<Device>;
      const plan = defaultPlanFor(focus);
      const group = await startWorkflow(medplum, plan, focus, { requester: event.requester });
      console.log(`${plan} workflow for ${getReferenceString(focus)}: ${getReferenceString(group)}`);
      return group;
    }
    case 'Task':
      return onTask(medplum, input as WithId<Task>, event.requester);
    case 'Parameters':
      return override(medplum, input as Parameters, event.requester);
    default:
      throw new Error(`The workflow bot expects an Encounter, Device, Task or Parameters, got ${describe(input)}`);
  }
}

async function override(medplum: MedplumClient, params: Parameters, requester: Reference | undefined): Promise<OverrideResult> {
  if (!requester?.reference?.startsWith('Practitioner/')) {
    throw new Error('Only a clinician (a Practitioner) may override a workflow');
  }
  const request = parseOverride(params);
  const result = await applyOverride(medplum, request, requester);
  console.log(`override ${request.action}${request.step ? ` ${request.step}` : ''} on ${request.encounter} by ${requester.reference}`);
  return result;
}

async function onTask(medplum: MedplumClient, task: WithId<Task>, requester: Reference | undefined): Promise<unknown> {
  const step = stepOf(task);
  if (step === START_WORKFLOW) {
    // A request that ended (this bot completes it once the workflow exists) asks for nothing more;
    // a server that delivers its completion as "a step ended" would otherwise start it again.
    if (ENDED_STATUSES.has(task.status)) return { ignored: `Task/${task.id} (${step}, ${task.status})` };
    return startRequested(medplum, task, requester);
  }
  if (step && ENDED_STATUSES.has(task.status)) {
    const result = await advanceWorkflow(medplum, task);
    if (result.readied.length || result.completed) {
      console.log(
        `after ${step} ${task.status}: ready ${result.readied.join(', ') || 'none'}${result.completed ? '; workflow complete' : ''}`,
      );
    }
    return result;
  }
  return { ignored: `Task/${task.id} (${step ?? 'not a step'}, ${task.status})` };
}

/**
 * A workflow requested through a Task (how bots start `emergency_device` without calling each other),
 * from the delivered version: the plan and focus of a request do not change, and completing it is
 * conditional on that version, so a request changed meanwhile (cancelled, completed by a redelivery)
 * is read again before it is touched.
 */
async function startRequested(
  medplum: MedplumClient,
  request: WithId<Task>,
  requester: Reference | undefined,
): Promise<WithId<RequestGroup>> {
  const planInput = request.input?.find((i) => i.type?.text === 'plan');
  const plan = planInput?.valueString ?? planInput?.valueCanonical?.split('/').pop();
  if (!plan) {
    throw new Error(`Task/${request.id} names no plan (input "plan")`);
  }
  const focusRef = request.focus?.reference;
  if (!focusRef?.startsWith('Encounter/') && !focusRef?.startsWith('Device/')) {
    throw new Error(`Task/${request.id} must focus on an Encounter or a Device`);
  }
  const group = await startWorkflow(medplum, plan, focusRef, {
    requester: request.requester ?? requester,
    instanceKey: `${focusRef}|Task/${request.id}`,
  });
  await completeRequest(medplum, request, group);
  return group;
}

/** Marks the request completed with the workflow it started, unless it has ended already. */
async function completeRequest(medplum: MedplumClient, delivered: WithId<Task>, group: WithId<RequestGroup>): Promise<void> {
  let current = delivered;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (ENDED_STATUSES.has(current.status)) return;
    try {
      await medplum.updateResource<Task>(
        {
          ...current,
          status: 'completed',
          output: [{ type: { text: 'workflow' }, valueReference: createReference(group) }],
          executionPeriod: { start: current.authoredOn, end: new Date().toISOString() },
        },
        { headers: { 'If-Match': `W/"${current.meta?.versionId}"` } },
      );
      return;
    } catch (err) {
      if (!(err instanceof OperationOutcomeError && getStatus(err.outcome) === 412)) throw err;
      current = await medplum.readResource('Task', delivered.id);
    }
  }
  throw new Error(`Task/${delivered.id} keeps changing; it is completed on the next delivery`);
}

function describe(input: unknown): string {
  if (input && typeof input === 'object' && 'resourceType' in input) return String((input as { resourceType: unknown }).resourceType);
  return typeof input;
}
