/** The workflow runner's FHIR reads and writes: starting a plan and advancing it as steps end. */
import { createReference, getReferenceString, getStatus, type MedplumClient, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Bot, Bundle, Device, Encounter, Identifier, PlanDefinition, Reference, RequestGroup, Task } from '@medplum/fhirtypes';
import { batchGet, resourceOfEntry } from '../lib/batch-read.ts';
import { BOT_SYSTEM, PLAN_URL } from '../lib/workflow.ts';
import { type ApplyContext, buildWorkflow, identifierQuery, planSteps, stepsToReady, workflowEnded, workflowGroup } from './plan.ts';

/** The plan an Encounter starts by default: emergency for EMER, the regular visit otherwise. */
export function defaultPlanFor(focus: Encounter | Device): string {
  if (focus.resourceType === 'Device') {
    return 'device_scan';
  }
  return focus.class?.code === 'EMER' ? 'emergency' : 'regular';
}

/** The deployed bots that perform the plan's steps, by the agent name the plan gives them. */
export function agentsFor(plan: PlanDefinition, bots: Bot[]): Map<string, Reference> {
  const names = new Set(planSteps(plan).flatMap((s) => (s.agent?.value ? [s.agent.value] : [])));
  const agents = new Map<string, Reference>();
  for (const bot of bots) {
    const name = bot.identifier?.find((i) => i.system === BOT_SYSTEM)?.value;
    if (name && names.has(name)) agents.set(name, { reference: `Bot/${bot.id}`, display: bot.name ?? name });
  }
  return agents;
}

type Focus = WithId<Encounter> | WithId<Device>;

/**
 * What starting a plan reads, as one batch: the PlanDefinition, the agents' bots (every bot that
 * carries an EmergiSphere agent identifier: a dozen, fewer requests than reading the plan first),
 * and the focus when the caller has only its reference.
 */
async function readForStart(
  medplum: MedplumClient,
  url: string,
  focus: Focus | string,
): Promise<{ plan: WithId<PlanDefinition>; bots: Bot[]; focus: Focus }> {
  const urls = [
    `PlanDefinition?url=${encodeURIComponent(url)}&_count=1`,
    `Bot?identifier=${encodeURIComponent(`${BOT_SYSTEM}|`)}&_count=100`,
    ...(typeof focus === 'string' ? [focus] : []),
  ];
  const [planEntry, botsEntry, focusEntry] = await batchGet(medplum, urls);
  const plan = resourceOfEntry<Bundle<PlanDefinition>>(planEntry, urls[0]).entry?.[0]?.resource;
  if (!plan) {
    throw new Error(`No workflow definition ${url} (is fhir-profiles/workflows loaded?)`);
  }
  const bots = (resourceOfEntry<Bundle<Bot>>(botsEntry, urls[1]).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  return {
    plan: plan as WithId<PlanDefinition>,
    bots,
    focus: typeof focus === 'string' ? resourceOfEntry<Encounter | Device>(focusEntry, focus) : focus,
  };
}

/**
 * Applies the named plan to an Encounter or Device (or the one a reference names), once: a second
 * call for the same plan and focus returns the workflow that already exists. Two phases, because a
 * transaction with conditional entries is limited to 8 entries: the RequestGroup is created
 * conditionally (the claim), then built with its Tasks in one transaction guarded by If-Match on
 * that RequestGroup. A crash between the two leaves a draft RequestGroup that the next delivery builds.
 * Three round trips in all: the reads, the claim, the build.
 */
export async function startWorkflow(
  medplum: MedplumClient,
  planName: string,
  target: Focus | string,
  options: { requester?: Reference; instanceKey?: string } = {},
): Promise<WithId<RequestGroup>> {
  const { plan, bots, focus } = await readForStart(medplum, PLAN_URL(planName), target);
  const ctx: ApplyContext = {
    plan,
    focus: { reference: getReferenceString(focus) },
    patient: focus.resourceType === 'Encounter' ? focus.subject : focus.patient,
    encounter: focus.resourceType === 'Encounter' ? createReference(focus) : undefined,
    agents: agentsFor(plan, bots),
    now: new Date().toISOString(),
    requester: options.requester,
    instanceKey: options.instanceKey,
  };
  const draft = workflowGroup(ctx);
  const group = await medplum.createResourceIfNoneExist(draft, identifierQuery(draft.identifier?.[0] as Identifier));
  if (group.status !== 'draft') {
    return group;
  }
  try {
    const reply = await medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: buildWorkflow(ctx, group),
    } satisfies Bundle);
    // The RequestGroup's entry is the last one; its answer carries the built version.
    const built = reply.entry?.at(-1)?.resource;
    if (built?.resourceType === 'RequestGroup') return built as WithId<RequestGroup>;
  } catch (err) {
    // Someone else built it first (If-Match failed): theirs stands, and nothing of ours was written.
    if (!(err instanceof OperationOutcomeError && getStatus(err.outcome) === 412)) {
      throw err;
    }
  }
  return medplum.readResource('RequestGroup', group.id);
}

/**
 * After a step ended: readies the steps now unblocked and completes the workflow when every step
 * has ended. Runs for each ending step, possibly concurrently: If-Match makes each transition
 * happen once, and a lost race is fine because the winner made the same change.
 */
export async function advanceWorkflow(medplum: MedplumClient, ended: Task): Promise<{ readied: string[]; completed: boolean }> {
  const groupRef = ended.basedOn?.find((r) => r.reference?.startsWith('RequestGroup/'));
  if (!groupRef) {
    return { readied: [], completed: false };
  }
  const { group, tasks } = await readWorkflow(medplum, groupRef.reference as string);
  const readied: string[] = [];
  for (const task of stepsToReady(group, tasks)) {
    const ok = await updateIfUnchanged(medplum, { ...task, status: 'ready', lastModified: new Date().toISOString() });
    if (ok) {
      readied.push(`Task/${task.id}`);
      task.status = 'ready';
    }
  }
  let completed = false;
  if (group.status === 'active' && workflowEnded(group, tasks)) {
    completed = await updateIfUnchanged(medplum, { ...group, status: 'completed' });
  }
  return { readied, completed };
}

/** The RequestGroup and its Tasks in one batch (the server runs both reads at once). */
async function readWorkflow(medplum: MedplumClient, groupRef: string): Promise<{ group: WithId<RequestGroup>; tasks: WithId<Task>[] }> {
  const urls = [groupRef, `Task?based-on=${encodeURIComponent(groupRef)}&_count=100`];
  const [groupEntry, tasksEntry] = await batchGet(medplum, urls);
  const group = resourceOfEntry<RequestGroup>(groupEntry, urls[0]);
  const tasks = (resourceOfEntry<Bundle<Task>>(tasksEntry, urls[1]).entry ?? []).flatMap((e) =>
    e.resource ? [e.resource as WithId<Task>] : [],
  );
  return { group, tasks };
}

/** Updates with If-Match on the version read; false when someone changed it first. */
async function updateIfUnchanged(medplum: MedplumClient, resource: Task | RequestGroup): Promise<boolean> {
  try {
    await medplum.updateResource(resource, { headers: { 'If-Match': `W/"${resource.meta?.versionId}"` } });
    return true;
  } catch (err) {
    if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 412) {
      return false;
    }
    throw err;
  }
}
