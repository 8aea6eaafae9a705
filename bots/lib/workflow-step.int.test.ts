import { type BotEvent, ContentType, type WithId } from '@medplum/core';
import type { Bundle, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { STEP_ATTEMPTS_EXTENSION, stepCoding } from './workflow.ts';
import { runStep } from './workflow-step.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runStep: a step Task from ready to its end, against the server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  const readyTask = () =>
    t.medplum.createResource<Task>({
      resourceType: 'Task',
      status: 'ready',
      intent: 'order',
      code: { coding: [stepCoding('smart-device')] },
    });

  const event = (task: WithId<Task>): BotEvent<Task> => ({
    bot: { reference: 'Bot/test' },
    input: task,
    contentType: ContentType.FHIR_JSON,
    secrets: {},
  });

  /** The Task's statuses, oldest version first. */
  async function statuses(id: string): Promise<Task['status'][]> {
    const history: Bundle<Task> = await t.medplum.readHistory('Task', id);
    return (history.entry ?? []).map((e) => (e.resource as Task).status).reverse();
  }

  const cancel = async (id: string) => {
    const current = await t.medplum.readResource('Task', id, { cache: 'no-cache' });
    await t.medplum.updateResource<Task>({ ...current, status: 'cancelled', statusReason: { text: 'skipped by a clinician' } });
  };

  test('a step that ends soon is written once: ready → completed, with when it started and ended', async () => {
    const task = await readyTask();
    const before = new Date().toISOString();
    const result = await runStep(t.medplum, event(task), async () => ({ note: 'checked', rationale: 'all fine' }));
    expect(result.status).toBe('completed');
    expect(await statuses(task.id)).toEqual(['ready', 'completed']);
    const done = await t.medplum.readResource('Task', task.id, { cache: 'no-cache' });
    expect(done.businessStatus?.text).toBe('checked');
    expect(done.output?.find((o) => o.type?.text === 'rationale')?.valueString).toBe('all fine');
    const { start, end } = done.executionPeriod ?? {};
    expect(start && end && before <= start && start <= end).toBe(true);
  });

  test('a step that runs longer is shown in progress while it runs, and keeps that start time', async () => {
    const task = await readyTask();
    let seenWhileRunning: Task['status'] | undefined;
    const result = await runStep(
      t.medplum,
      event(task),
      async () => {
        await sleep(400);
        seenWhileRunning = (await t.medplum.readResource('Task', task.id, { cache: 'no-cache' })).status;
        return { note: 'checked' };
      },
      { showRunningAfterMs: 50 },
    );
    expect(result.status).toBe('completed');
    expect(seenWhileRunning).toBe('in-progress');
    const versions: Bundle<Task> = await t.medplum.readHistory('Task', task.id);
    const [completed, running] = (versions.entry ?? []).map((e) => e.resource as Task);
    expect([running.status, completed.status]).toEqual(['in-progress', 'completed']);
    expect(completed.executionPeriod?.start).toBe(running.executionPeriod?.start);
  });

  for (const [label, afterMs] of [
    ['before it was shown running', 10_000],
    ['after it was shown running', 50],
  ] as const) {
    test(`a clinician who ends the step while it runs wins (${label})`, async () => {
      const task = await readyTask();
      const result = await runStep(
        t.medplum,
        event(task),
        async () => {
          await sleep(afterMs < 1000 ? 300 : 0);
          await cancel(task.id);
          return { note: 'checked' };
        },
        { showRunningAfterMs: afterMs },
      );
      expect(result.status).toBe('skipped');
      const after = await t.medplum.readResource('Task', task.id, { cache: 'no-cache' });
      expect(after.status).toBe('cancelled');
      expect(after.output).toBeUndefined();
    });
  }

  test('a failed attempt leaves the step in progress with its count; the last one marks it failed with the reason', async () => {
    const task = await readyTask();
    const failing = async () => {
      throw new Error('device registry unreachable');
    };
    await expect(runStep(t.medplum, event(task), failing, { maxAttempts: 2 })).rejects.toThrow(/unreachable/);
    const between = await t.medplum.readResource('Task', task.id, { cache: 'no-cache' });
    expect(between.status).toBe('in-progress');
    expect(between.extension?.find((e) => e.url === STEP_ATTEMPTS_EXTENSION)?.valueInteger).toBe(1);
    expect(between.executionPeriod?.start).toBeDefined();
    // The subscription runtime delivers the same event again.
    const result = await runStep(t.medplum, event(task), failing, { maxAttempts: 2 });
    expect(result.status).toBe('failed');
    const failed = await t.medplum.readResource('Task', task.id, { cache: 'no-cache' });
    expect(failed.statusReason?.text).toMatch(/unreachable/);
    expect(failed.executionPeriod?.start).toBe(between.executionPeriod?.start);
    expect(failed.executionPeriod?.end).toBeDefined();
  });
});
