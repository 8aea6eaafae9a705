/**
 * The names shared by the workflow runner and the agents (see docs/workflows.md). Pure data and
 * small pure helpers only: every bot bundles this file.
 */
import type { Coding, Identifier, Reference, Task } from '@medplum/fhirtypes';

export const ES = 'https://emergisphere.dev/fhir';
/** The profile of a workflow step Task (fhir-profiles/profiles/workflow-task.json). */
export const WORKFLOW_TASK_PROFILE = `${ES}/StructureDefinition/workflow-task`;
export const STEP_SYSTEM = `${ES}/CodeSystem/workflow-step`;
export const BOT_SYSTEM = `${ES}/bot`;
export const STEP_AGENT_EXTENSION = `${ES}/StructureDefinition/step-agent`;
export const EMTALA_GATED_EXTENSION = `${ES}/StructureDefinition/emtala-gated`;
export const STEP_ATTEMPTS_EXTENSION = `${ES}/StructureDefinition/step-attempts`;
export const WORKFLOW_INSTANCE_SYSTEM = `${ES}/workflow-instance`;
export const WORKFLOW_TASK_SYSTEM = `${ES}/workflow-task`;
export const PLAN_URL = (name: string): string => `${ES}/PlanDefinition/${name}`;
export const OBSERVATION_METHOD_SYSTEM = `${ES}/CodeSystem/observation-method`;
export const COMMUNICATION_CATEGORY_SYSTEM = `${ES}/CodeSystem/communication-category`;
export const ESI_SYSTEM = `${ES}/CodeSystem/esi`;
export const OBSERVATION_CODE_SYSTEM = `${ES}/CodeSystem/observation-code`;

export const STEP_CODES = [
  'triage',
  'admission',
  'legal',
  'medical-records',
  'smart-device',
  'billing',
  'communication',
  'scheduling',
] as const;
export type StepCode = (typeof STEP_CODES)[number];
export const START_WORKFLOW = 'start-workflow';

/** How often a step is tried before its Task is marked failed; the agents' Subscriptions use the same. */
export const STEP_MAX_ATTEMPTS = 3;

/** Task statuses after which a step no longer changes by itself. */
export const ENDED_STATUSES: ReadonlySet<Task['status']> = new Set(['completed', 'failed', 'cancelled', 'entered-in-error']);

export function stepCoding(step: string): Coding {
  return { system: STEP_SYSTEM, code: step };
}

/** The step code of a Task (undefined for Tasks that are not workflow steps). */
export function stepOf(task: Pick<Task, 'code'>): string | undefined {
  return task.code?.coding?.find((c) => c.system === STEP_SYSTEM)?.code;
}

export function botIdentifier(name: string): Identifier {
  return { system: BOT_SYSTEM, value: name };
}

/** "Encounter/123" from a reference, or undefined. */
export function referenceString(ref: Reference | undefined): string | undefined {
  return ref?.reference;
}

/** A bot's Subscription criterion that fires once when a Task of `step` becomes ready (not on later edits). */
export const READY_TRANSITION = "%current.status = 'ready' and %previous.where(status = 'ready').exists().not()";
