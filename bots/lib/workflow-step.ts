/**
 * Running one workflow step (a Task that became `ready`) the same way in every agent:
 *
 *   export async function handler(medplum: MedplumClient, event: BotEvent<Task>) {
 *     return runStep(medplum, event, async (ctx) => {
 *       ...decide with pure functions, write with createOnce(...)...
 *       return { outputs: [{ type: 'ESI Observation', reference: 'Observation/1' }], rationale: '...' };
 *     });
 *   }
 *
 * The Task goes `ready` → `completed` (outputs, executionPeriod start and end) in one write, through
 * `in-progress` when the step runs longer than SHOW_RUNNING_AFTER_MS or an attempt failed. A thrown error is noted on the Task and rethrown so the subscription
 * runtime retries the delivery; the last attempt marks the Task `failed` with the reason instead,
 * so the rest of the workflow can go on. Deliveries of the same event carry the same Task version,
 * which is what effects should be keyed on (`ctx.trigger` with createOnce).
 */
import {
  type BotEvent,
  getReferenceString,
  getStatus,
  type MedplumClient,
  normalizeErrorString,
  OperationOutcomeError,
  type WithId,
} from '@medplum/core';
import type { BundleEntry, Device, Encounter, Patient, Period, Reference, Task, TaskOutput } from '@medplum/fhirtypes';
import { batchGet, resourceOfEntry } from './batch-read.ts';
import { ENDED_STATUSES, STEP_ATTEMPTS_EXTENSION, STEP_MAX_ATTEMPTS, stepOf } from './workflow.ts';

export interface StepContext {
  medplum: MedplumClient;
  /** The Task as read when the step started (ready, or in progress after a failed attempt). */
  task: WithId<Task>;
  /** The Task version this delivery is about: key idempotent effects on it. */
  trigger: WithId<Task>;
  step: string;
  encounter?: WithId<Encounter>;
  device?: WithId<Device>;
  patient?: WithId<Patient>;
  secrets: BotEvent['secrets'];
}

export interface StepOutput {
  /** What the output is, e.g. "ESI Observation". */
  type: string;
  reference?: string;
  text?: string;
}

export interface StepOutcome {
  outputs?: StepOutput[];
  /** Why the step decided what it did (shown with the Task). */
  rationale?: string;
  /** A short progress note for businessStatus. */
  note?: string;
}

export type StepRunResult =
  | { status: 'completed'; task: WithId<Task> }
  | { status: 'failed'; task: WithId<Task>; error: string }
  | { status: 'skipped'; reason: string };

/**
 * A step that ends within this long goes from ready to completed in one write, its executionPeriod
 * still saying when it started; a longer one is marked in-progress once this has passed, so the
 * board shows it running. Every Task write is a version, a history row and a round of subscription
 * matching, and most steps take tens of milliseconds: the in-progress write was a quarter of a
 * step's requests (bench:device, where each device alert runs two steps).
 */
export const SHOW_RUNNING_AFTER_MS = 1_000;

function attemptsOf(task: Task): number {
  return task.extension?.find((e) => e.url === STEP_ATTEMPTS_EXTENSION)?.valueInteger ?? 0;
}

function withAttempts(task: Task, attempts: number): Task['extension'] {
  return [
    ...(task.extension ?? []).filter((e) => e.url !== STEP_ATTEMPTS_EXTENSION),
    { url: STEP_ATTEMPTS_EXTENSION, valueInteger: attempts },
  ];
}

function ifMatch(task: Task): { headers: Record<string, string> } {
  return { headers: { 'If-Match': `W/"${task.meta?.versionId}"` } };
}

export function toTaskOutputs(outcome: StepOutcome): TaskOutput[] {
  const outputs: TaskOutput[] = (outcome.outputs ?? []).map((o) =>
    o.reference
      ? { type: { text: o.type }, valueReference: { reference: o.reference } }
      : { type: { text: o.type }, valueString: o.text ?? '' },
  );
  if (outcome.rationale) {
    outputs.push({ type: { text: 'rationale' }, valueString: outcome.rationale });
  }
  return outputs;
}

type Focus = Pick<StepContext, 'encounter' | 'device' | 'patient'>;

/** A reference and the batch's answer for it: an error is thrown where the step's own errors are handled. */
type Read = { url: string; entry: BundleEntry | undefined } | undefined;

/** The step's Encounter or Device and Patient, from the batch; a patient named only by the focus is read after it. */
async function loadFocus(medplum: MedplumClient, focusRead: Read, patientRead: Read): Promise<Focus> {
  const out: Focus = {};
  const focus = focusRead && resourceOfEntry(focusRead.entry, focusRead.url);
  if (focus?.resourceType === 'Encounter') out.encounter = focus as WithId<Encounter>;
  if (focus?.resourceType === 'Device') out.device = focus as WithId<Device>;
  out.patient = patientRead && resourceOfEntry<Patient>(patientRead.entry, patientRead.url);
  const patientRef = out.encounter?.subject?.reference ?? out.device?.patient?.reference;
  if (!out.patient && patientRef?.startsWith('Patient/')) {
    out.patient = await medplum.readReference<Patient>({ reference: patientRef } as Reference<Patient>);
  }
  return out;
}

/** Runs `work` as the step of the delivered Task; see the module comment for the protocol. */
export async function runStep(
  medplum: MedplumClient,
  event: BotEvent<Task>,
  work: (ctx: StepContext) => Promise<StepOutcome>,
  options: { maxAttempts?: number; showRunningAfterMs?: number } = {},
): Promise<StepRunResult> {
  const trigger = event.input as WithId<Task>;
  if (trigger?.resourceType !== 'Task' || !trigger.id) {
    throw new Error(`A workflow step expects a Task, got ${trigger?.resourceType ?? typeof trigger}`);
  }
  const step = stepOf(trigger);
  if (!step) {
    throw new Error(`Task/${trigger.id} is not a workflow step`);
  }
  // The Task, its focus and its patient in one batch (they were three requests one after another),
  // the focus and patient as the delivered version names them: a step's Task keeps them.
  const focusRef = trigger.focus?.reference ?? trigger.encounter?.reference;
  const patientRef = trigger.for?.reference;
  const taskUrl = `Task/${trigger.id}`;
  const focusUrl = focusRef?.startsWith('Encounter/') || focusRef?.startsWith('Device/') ? focusRef : undefined;
  const patientUrl = patientRef?.startsWith('Patient/') ? patientRef : undefined;
  const urls = [taskUrl, focusUrl, patientUrl].filter((u): u is string => !!u);
  const entries = await batchGet(medplum, urls);
  const readOf = (url: string | undefined): Read => (url ? { url, entry: entries[urls.indexOf(url)] } : undefined);
  const task = resourceOfEntry<Task>(entries[0], taskUrl);
  const focusRead = readOf(focusUrl);
  const patientRead = readOf(patientUrl);
  if (ENDED_STATUSES.has(task.status) || (task.status !== 'ready' && task.status !== 'in-progress')) {
    return { status: 'skipped', reason: `Task/${task.id} is ${task.status}` };
  }
  // A step that ends soon goes from ready to completed in one write; a longer one is shown running.
  const startedAt = task.executionPeriod?.start ?? new Date().toISOString();
  const running = showRunningLater(medplum, task, startedAt, options.showRunningAfterMs ?? SHOW_RUNNING_AFTER_MS);
  const began = (current: WithId<Task>): Period => ({ ...current.executionPeriod, start: current.executionPeriod?.start ?? startedAt });
  const maxAttempts = options.maxAttempts ?? STEP_MAX_ATTEMPTS;
  let outcome: StepOutcome;
  try {
    const context = await loadFocus(medplum, focusRead, patientRead);
    outcome = await work({ medplum, task, trigger, step, secrets: event.secrets, ...context });
  } catch (err) {
    const error = normalizeErrorString(err);
    const current = await running.settle();
    if (!current) {
      return { status: 'skipped', reason: `Task/${task.id} was ended while the step ran` };
    }
    const attempts = attemptsOf(current) + 1;
    if (attempts >= maxAttempts) {
      const failed = await updateUnlessEnded(medplum, current, (latest) => ({
        ...latest,
        status: 'failed',
        extension: withAttempts(latest, attempts),
        statusReason: { text: error },
        businessStatus: { text: `failed after ${attempts} attempt${attempts === 1 ? '' : 's'}` },
        executionPeriod: { ...began(latest), end: new Date().toISOString() },
      }));
      console.log(`${step} failed for good on ${getReferenceString(task)}: ${error}`);
      return failed ? { status: 'failed', task: failed, error } : { status: 'skipped', reason: `Task/${task.id} was ended meanwhile` };
    }
    // Between attempts the step is running: the subscription runtime delivers it again.
    await updateUnlessEnded(medplum, current, (latest) => ({
      ...latest,
      status: 'in-progress',
      executionPeriod: began(latest),
      extension: withAttempts(latest, attempts),
      businessStatus: { text: `attempt ${attempts} of ${maxAttempts} failed: ${error}` },
    }));
    throw err;
  }
  const current = await running.settle();
  const done =
    current &&
    (await updateUnlessEnded(medplum, current, (latest) => ({
      ...latest,
      status: 'completed',
      output: toTaskOutputs(outcome),
      businessStatus: { text: outcome.note ?? 'completed' },
      executionPeriod: { ...began(latest), end: new Date().toISOString() },
    })));
  return done ? { status: 'completed', task: done } : { status: 'skipped', reason: `Task/${task.id} was ended while the step ran` };
}

/**
 * Marks a ready step in-progress once it has run `afterMs`, unless it ended first. `settle()` stops
 * the timer and gives the Task as it stands after that write (the same Task when none was made or it
 * failed to reach the server: If-Match on the next write finds out), or undefined when someone
 * ended the step meanwhile (a clinician's skip or cancel wins over the bot).
 */
function showRunningLater(
  medplum: MedplumClient,
  task: WithId<Task>,
  startedAt: string,
  afterMs: number,
): { settle: () => Promise<WithId<Task> | undefined> } {
  if (task.status !== 'ready') {
    return { settle: async () => task };
  }
  let write: Promise<WithId<Task> | undefined> | undefined;
  const timer = setTimeout(() => {
    write = updateUnlessEnded(medplum, task, (current) => ({
      ...current,
      status: 'in-progress',
      executionPeriod: { ...current.executionPeriod, start: current.executionPeriod?.start ?? startedAt },
      businessStatus: { text: 'running' },
    })).catch(() => task);
  }, afterMs);
  return {
    settle: async () => {
      clearTimeout(timer);
      return write ? write : task;
    },
  };
}

/**
 * Applies `change` to the Task unless someone ended it meanwhile (a clinician who cancelled or
 * skipped the step wins over the bot). If-Match makes the check and the write one step.
 */
async function updateUnlessEnded(
  medplum: MedplumClient,
  task: WithId<Task>,
  change: (current: WithId<Task>) => Task,
): Promise<WithId<Task> | undefined> {
  let current = task;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (ENDED_STATUSES.has(current.status)) {
      return undefined;
    }
    try {
      return await medplum.updateResource<Task>(change(current), ifMatch(current));
    } catch (err) {
      if (!isPreconditionFailed(err)) {
        throw err;
      }
      current = await medplum.readResource('Task', task.id);
    }
  }
  throw new Error(`Task/${task.id} keeps changing; giving up this attempt`);
}

function isPreconditionFailed(err: unknown): boolean {
  return err instanceof OperationOutcomeError && getStatus(err.outcome) === 412;
}
