/**
 * `GET Encounter/{id}/$workflow-status`: every workflow of an encounter, each step with its state,
 * agent, timings and outputs, in one call (docs/workflows.md). Read-only.
 */
import { type BotEvent, getReferenceString, type MedplumClient } from '@medplum/core';
import type { Bundle, Encounter, Parameters, RequestGroup, Task } from '@medplum/fhirtypes';
import { statusParameters, workflowStatus } from '../workflow/status.ts';

export async function handler(medplum: MedplumClient, event: BotEvent<Encounter>): Promise<Parameters> {
  const encounter = event.input;
  if (encounter?.resourceType !== 'Encounter' || !encounter.id) {
    throw new Error('$workflow-status is an operation on an Encounter (GET Encounter/{id}/$workflow-status)');
  }
  const bundle = (await medplum.search(
    'RequestGroup',
    { encounter: getReferenceString(encounter), _revinclude: 'Task:based-on', _count: '200' },
    { cache: 'no-cache' },
  )) as Bundle<RequestGroup | Task>;
  const resources = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  const tasks = resources.filter((r): r is Task => r.resourceType === 'Task');
  const groups = resources.filter((r): r is RequestGroup => r.resourceType === 'RequestGroup');
  return statusParameters(groups.map((g) => workflowStatus(g, tasks)));
}
