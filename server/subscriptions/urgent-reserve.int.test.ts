// The urgent reserve: with every delivery slot taken by routine work, an urgent subscription's
// delivery still goes out at once in a slot that routine deliveries may not use.
import type { Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { codedObservation, subscribeToCode } from '../../test/coded-subscriptions.ts';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
let hooks: HookReceiver;

beforeAll(async () => {
  hooks = await startHookReceiver();
  // One slot for any delivery, one more for urgent ones only.
  t = await startTestServer({ subscriptions: { concurrency: 1, urgentReserve: 1, pollIntervalMs: 100 } });
});

afterAll(async () => {
  await t?.close();
  await hooks?.close();
});

const subscribe = (code: string, priority?: string): Promise<Subscription> =>
  subscribeToCode(t.medplum, hooks.url, 'urgent reserve test', code, priority);
const observation = codedObservation;
const codeOf = (resource: Record<string, unknown>) => (resource.code as { coding: { code: string }[] }).coding[0].code;

test('an urgent delivery goes out while a routine one holds the only slot; routine ones wait for it', async () => {
  await subscribe('blocker');
  await subscribe('routine');
  await subscribe('alarm', 'stat');
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  hooks.hold = (hook) => (codeOf(hook.resource) === 'blocker' ? gate : undefined);
  try {
    await t.medplum.createResource(observation('blocker'));
    await hooks.waitFor((all) => all.length === 1, 30_000);
    const routine = await t.medplum.createResource(observation('routine'));
    const alarm = await t.medplum.createResource(observation('alarm'));
    // The blocker still holds the slot: the alarm arrives through the reserve, the routine one does not.
    await hooks.waitFor((all) => all.some((h) => h.resource.id === alarm.id), 10_000);
    expect(hooks.received.some((h) => h.resource.id === routine.id)).toBe(false);
    release();
    await hooks.waitFor((all) => all.some((h) => h.resource.id === routine.id), 30_000);
    expect(hooks.received.map((h) => codeOf(h.resource))).toEqual(['blocker', 'alarm', 'routine']);
  } finally {
    release();
  }
});
