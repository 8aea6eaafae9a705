/**
 * `POST Task/$legal-case-event`: the life of a legal case (a Task with code legal-case, opened by
 * the legal step for a crime, an accident, domestic violence or abuse). Each event is recorded
 * as a Provenance (who, when, what) appended to the case's `relevantHistory`, in one transaction
 * with the change:
 * - `police-report`: the police report number, as a case identifier assigned by the agency;
 * - `action`: something done (an interview, photographs, a referral): a completed sub-Task;
 * - `outcome`: an outcome (charges filed, no further action…), as a case output;
 * - `close`: the case is closed (completed) with its final note.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { BundleEntry, Organization, Parameters, Provenance, Reference, Task } from '@medplum/fhirtypes';
import { ID, LEGAL_EVENT_SYSTEM, LEGAL_TASK_SYSTEM, PARAM, restricted } from './fhir.ts';
import { BadRequest, codeParam, dateTimeParam, parameters, referenceParam, staffRequester, stringParam } from './operations-input.ts';

export const CASE_EVENTS = ['police-report', 'action', 'outcome', 'close'] as const;
export type CaseEvent = (typeof CASE_EVENTS)[number];
const EVENT_DISPLAY: Record<CaseEvent, string> = {
  'police-report': 'Police report number recorded',
  action: 'Action taken',
  outcome: 'Outcome recorded',
  close: 'Case closed',
};
const URNS = {
  provenance: 'urn:uuid:3c8e4f00-0001-4000-8000-000000000001',
  action: 'urn:uuid:3c8e4f00-0002-4000-8000-000000000002',
} as const;

export interface CaseEventRequest {
  case: Reference;
  event: CaseEvent;
  value: string;
  agency?: Reference;
  occurred?: string;
  note?: string;
}

export function parseCaseEvent(input: unknown): CaseEventRequest {
  const params = parameters(input);
  const req: CaseEventRequest = {
    case: referenceParam(params, 'case', { required: true, types: ['Task'], literal: true }) as Reference,
    event: codeParam(params, 'event', CASE_EVENTS),
    value: stringParam(params, 'value', true) as string,
    agency: referenceParam(params, 'agency', { types: ['Organization'] }),
    occurred: dateTimeParam(params, 'occurred'),
    note: stringParam(params, 'note'),
  };
  if (req.event === 'police-report' && !req.agency) throw new BadRequest('A police report number needs the agency that assigned it');
  return req;
}

export function isLegalCase(task: Task): boolean {
  return !!task.code?.coding?.some((c) => c.system === LEGAL_TASK_SYSTEM && c.code === 'legal-case');
}

/** The event's transaction; pure. */
export function caseEventEntries(req: CaseEventRequest, caseTask: WithId<Task>, requester: Reference, now: string): BundleEntry[] {
  if (!isLegalCase(caseTask)) throw new BadRequest(`Task/${caseTask.id} is not a legal case`);
  if (caseTask.status === 'completed' || caseTask.status === 'cancelled') {
    throw new BadRequest(`The case Task/${caseTask.id} is closed`);
  }
  const occurred = req.occurred ?? now;
  const text = `${EVENT_DISPLAY[req.event]}: ${req.value}${req.note ? ` (${req.note})` : ''}`;
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [{ reference: `Task/${caseTask.id}` }, ...(req.event === 'action' ? [{ reference: URNS.action }] : [])],
    occurredDateTime: occurred,
    recorded: now,
    activity: { coding: [{ system: LEGAL_EVENT_SYSTEM, code: req.event, display: EVENT_DISPLAY[req.event] }], text },
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' }],
        },
        who: requester as Provenance['agent'][number]['who'],
      },
    ],
  };
  const updated: Task = {
    ...caseTask,
    lastModified: now,
    relevantHistory: [...(caseTask.relevantHistory ?? []), { reference: URNS.provenance }],
  };
  const entries: BundleEntry[] = [
    { fullUrl: URNS.provenance, resource: restricted(provenance), request: { method: 'POST', url: 'Provenance' } },
  ];
  switch (req.event) {
    case 'police-report':
      if (caseTask.identifier?.some((i) => i.system === ID.policeReport && i.value === req.value)) {
        throw new BadRequest(`Police report number ${req.value} is already on the case`);
      }
      updated.identifier = [
        ...(caseTask.identifier ?? []),
        { system: ID.policeReport, value: req.value, assigner: req.agency as Reference<Organization> },
      ];
      updated.businessStatus = { text: `police report ${req.value}` };
      break;
    case 'action': {
      const action: Task = {
        resourceType: 'Task',
        status: 'completed',
        intent: 'order',
        code: { coding: [{ system: LEGAL_TASK_SYSTEM, code: 'case-action', display: 'Legal case action' }] },
        description: req.value,
        partOf: [{ reference: `Task/${caseTask.id}` }],
        for: caseTask.for,
        encounter: caseTask.encounter,
        authoredOn: now,
        executionPeriod: { start: occurred, end: occurred },
        owner: requester as Task['owner'],
        ...(req.note ? { note: [{ text: req.note, time: now }] } : {}),
      };
      entries.push({ fullUrl: URNS.action, resource: restricted(action), request: { method: 'POST', url: 'Task' } });
      break;
    }
    case 'outcome':
      updated.output = [...(caseTask.output ?? []), { type: { text: PARAM.outcome }, valueString: req.value }];
      updated.businessStatus = { text: `outcome: ${req.value}` };
      break;
    case 'close':
      updated.status = 'completed';
      updated.businessStatus = { text: `closed: ${req.value}` };
      updated.executionPeriod = { ...caseTask.executionPeriod, end: occurred };
      break;
  }
  entries.push({ resource: updated, request: { method: 'PUT', url: `Task/${caseTask.id}`, ifMatch: `W/"${caseTask.meta?.versionId}"` } });
  return entries;
}

export async function recordCaseEvent(medplum: MedplumClient, input: unknown, requester: Reference | undefined): Promise<Parameters> {
  const who = staffRequester(requester);
  const req = parseCaseEvent(input);
  if (req.agency?.reference) await medplum.readReference(req.agency);
  const caseTask = (await medplum.readReference(req.case)) as WithId<Task>;
  const entries = caseEventEntries(req, caseTask, who, new Date().toISOString());
  const response = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries });
  const at = (i: number) => response.entry?.[i]?.response?.location?.split('/_history')[0] as string;
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'case', valueReference: { reference: `Task/${caseTask.id}` } },
      { name: 'provenance', valueReference: { reference: at(0) } },
      ...(req.event === 'action' ? [{ name: 'action', valueReference: { reference: at(1) } }] : []),
    ],
  };
}
