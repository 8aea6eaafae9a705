/** Clinician overrides of a running workflow: parsing (pure) and the FHIR writes they make. */
import { createReference, generateId, getReferenceString, type MedplumClient, type WithId } from '@medplum/core';
import type {
  Bundle,
  BundleEntry,
  Encounter,
  Observation,
  Parameters,
  Provenance,
  Reference,
  RequestGroup,
  Task,
} from '@medplum/fhirtypes';
import { ESI_OBSERVATION_CODE, esiConcept, priorityForEsi } from '../lib/acuity.ts';
import { ENDED_STATUSES, OBSERVATION_METHOD_SYSTEM, STEP_ATTEMPTS_EXTENSION, stepOf } from '../lib/workflow.ts';

export const OVERRIDE_ACTIONS = ['set-acuity', 'skip', 'rerun', 'cancel'] as const;
export type OverrideAction = (typeof OVERRIDE_ACTIONS)[number];

export interface OverrideRequest {
  encounter: string;
  action: OverrideAction;
  step?: string;
  acuity?: number;
  reason: string;
}

/** Reads and checks the operation's Parameters; throws an Error naming the first problem. */
export function parseOverride(params: Parameters): OverrideRequest {
  if (params?.resourceType !== 'Parameters') {
    throw new Error('$workflow-override expects a Parameters resource');
  }
  const get = (name: string) => params.parameter?.find((p) => p.name === name);
  const encounter = get('encounter')?.valueReference?.reference ?? get('encounter')?.valueString;
  if (!encounter?.startsWith('Encounter/')) {
    throw new Error('Parameter "encounter" must reference an Encounter (valueReference "Encounter/<id>")');
  }
  const action = get('action')?.valueCode ?? get('action')?.valueString;
  if (!OVERRIDE_ACTIONS.includes(action as OverrideAction)) {
    throw new Error(`Parameter "action" must be one of ${OVERRIDE_ACTIONS.join(', ')}`);
  }
  const reason = (get('reason')?.valueString ?? '').trim();
  if (!reason) {
    throw new Error('Parameter "reason" is required: every override records why');
  }
  const step = get('step')?.valueCode ?? get('step')?.valueString;
  const request: OverrideRequest = { encounter, action: action as OverrideAction, reason, ...(step ? { step } : {}) };
  if (action === 'set-acuity') {
    const acuity = get('acuity')?.valueInteger ?? Number(get('acuity')?.valueString ?? get('acuity')?.valueCode);
    if (!Number.isInteger(acuity) || acuity < 1 || acuity > 5) {
      throw new Error('Parameter "acuity" must be an ESI level, an integer from 1 to 5');
    }
    request.acuity = acuity;
  } else if ((action === 'skip' || action === 'rerun') && !step) {
    throw new Error(`Parameter "step" is required for ${action}`);
  }
  return request;
}

function provenance(targets: Reference[], who: Reference, reason: string, activity: string): Provenance {
  return {
    resourceType: 'Provenance',
    target: targets,
    recorded: new Date().toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' }], text: activity },
    reason: [{ text: reason }],
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        who: who as Provenance['agent'][number]['who'],
      },
    ],
  };
}

async function workflowTasks(
  medplum: MedplumClient,
  encounter: string,
): Promise<{ groups: WithId<RequestGroup>[]; tasks: WithId<Task>[] }> {
  const bundle = (await medplum.search(
    'RequestGroup',
    { encounter, _revinclude: 'Task:based-on', _count: '100' },
    { cache: 'no-cache' },
  )) as Bundle<RequestGroup | Task>;
  const groups: WithId<RequestGroup>[] = [];
  const tasks: WithId<Task>[] = [];
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (r?.resourceType === 'RequestGroup') groups.push(r as WithId<RequestGroup>);
    if (r?.resourceType === 'Task') tasks.push(r as WithId<Task>);
  }
  return { groups, tasks };
}

export interface OverrideResult {
  action: OverrideAction;
  changed: string[];
  provenance: string;
}

/** Carries out a checked override for `requester` in one transaction (the change and its Provenance). */
export async function applyOverride(medplum: MedplumClient, req: OverrideRequest, requester: Reference): Promise<OverrideResult> {
  const encounter = await medplum.readReference<Encounter>({ reference: req.encounter } as Reference<Encounter>);
  const entries: BundleEntry[] = [];
  const targets: Reference[] = [];
  const now = new Date().toISOString();
  const who = requester.reference ?? 'unknown';
  if (req.action === 'set-acuity') {
    const level = req.acuity as number;
    const obsUrn = `urn:uuid:${generateId()}`;
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
      code: ESI_OBSERVATION_CODE,
      subject: encounter.subject,
      encounter: createReference(encounter),
      effectiveDateTime: now,
      performer: [requester as NonNullable<Observation['performer']>[number]],
      valueCodeableConcept: esiConcept(level),
      method: { coding: [{ system: OBSERVATION_METHOD_SYSTEM, code: 'clinician-override', display: 'Clinician override' }] },
      note: [{ text: `Clinician override by ${who}: ${req.reason}` }],
    };
    entries.push({ fullUrl: obsUrn, resource: observation, request: { method: 'POST', url: 'Observation' } });
    entries.push({
      resource: { ...encounter, priority: priorityForEsi(level) },
      request: { method: 'PUT', url: getReferenceString(encounter), ifMatch: `W/"${encounter.meta?.versionId}"` },
    });
    targets.push({ reference: obsUrn }, createReference(encounter));
  } else {
    const { groups, tasks } = await workflowTasks(medplum, req.encounter);
    if (groups.length === 0) {
      throw new Error(`${req.encounter} has no workflow`);
    }
    const chosen = req.step ? tasks.filter((t) => stepOf(t) === req.step) : tasks.filter((t) => !ENDED_STATUSES.has(t.status));
    if (req.step && chosen.length === 0) {
      throw new Error(`${req.encounter} has no workflow step "${req.step}"`);
    }
    for (const task of chosen) {
      const updated: Task =
        req.action === 'rerun'
          ? {
              ...task,
              status: 'ready',
              extension: task.extension?.filter((e) => e.url !== STEP_ATTEMPTS_EXTENSION),
              output: undefined,
              statusReason: undefined,
              executionPeriod: undefined,
              businessStatus: { text: `re-run requested by ${who}: ${req.reason}` },
              lastModified: now,
            }
          : {
              ...task,
              status: 'cancelled',
              statusReason: { text: `${req.action === 'skip' ? 'Skipped' : 'Cancelled'} by ${who}: ${req.reason}` },
              executionPeriod: { ...task.executionPeriod, end: now },
              lastModified: now,
            };
      entries.push({ resource: updated, request: { method: 'PUT', url: `Task/${task.id}`, ifMatch: `W/"${task.meta?.versionId}"` } });
      targets.push({ reference: `Task/${task.id}` });
    }
    if (req.action === 'cancel' && !req.step) {
      for (const group of groups.filter((g) => g.status === 'active')) {
        entries.push({
          resource: { ...group, status: 'revoked' },
          request: { method: 'PUT', url: `RequestGroup/${group.id}`, ifMatch: `W/"${group.meta?.versionId}"` },
        });
        targets.push({ reference: `RequestGroup/${group.id}` });
      }
    }
  }
  if (targets.length === 0) {
    throw new Error('Nothing to change: the workflow has no step that is still open');
  }
  const provUrn = `urn:uuid:${generateId()}`;
  entries.push({
    fullUrl: provUrn,
    resource: provenance(targets, requester, req.reason, `workflow override: ${req.action}${req.step ? ` ${req.step}` : ''}`),
    request: { method: 'POST', url: 'Provenance' },
  });
  const result = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries } satisfies Bundle);
  const locations = (result.entry ?? []).map((e) => e.response?.location ?? '');
  return {
    action: req.action,
    changed: locations.slice(0, -1).map((l) => l.split('/_history')[0]),
    provenance: locations.at(-1)?.split('/_history')[0] ?? '',
  };
}
