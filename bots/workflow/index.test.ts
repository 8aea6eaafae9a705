import { type BotEvent, ContentType } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { expect, test } from 'vitest';
import { PLAN_URL, START_WORKFLOW, stepCoding } from '../lib/workflow.ts';
import { handler } from './index.ts';

const request = (status: Task['status']): Task => ({
  resourceType: 'Task',
  id: 'start-1',
  status,
  intent: 'order',
  code: { coding: [stepCoding(START_WORKFLOW)] },
  focus: { reference: 'Encounter/e1' },
  input: [{ type: { text: 'plan' }, valueCanonical: PLAN_URL('emergency') }],
});

const event = (input: Task): BotEvent<Task> => ({
  bot: { reference: 'Bot/workflow' },
  input,
  contentType: ContentType.FHIR_JSON,
  secrets: {},
});

test('an ended workflow request starts nothing (its completion may come back as "a step ended")', async () => {
  const medplum = new MockClient();
  for (const status of ['completed', 'failed', 'cancelled'] as const) {
    // Nothing is on the server: any attempt to start the workflow would fail the run.
    await expect(handler(medplum, event(request(status)))).resolves.toEqual({ ignored: `Task/start-1 (start-workflow, ${status})` });
  }
  // A request still open starts its plan (the MockClient has no PlanDefinition: the run fails).
  await expect(handler(medplum, event(request('requested')))).rejects.toThrow(/No workflow definition/);
});
