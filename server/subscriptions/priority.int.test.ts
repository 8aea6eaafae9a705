// Delivery priority (subscription-priority extension): with every delivery slot taken, the
// deliveries waiting in the table are claimed urgent first, then in commit order (no urgent reserve
// here: urgent-reserve.int.test.ts covers it).
import type { Subscription } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { codedObservation, subscribeToCode } from '../../test/coded-subscriptions.ts';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
let hooks: HookReceiver;
/** What the engine told about urgent subscriptions, in order (the bot pool's reserve follows it). */
const urgency: boolean[] = [];
let alarmSubscription: Subscription | undefined;

beforeAll(async () => {
  hooks = await startHookReceiver();
  // One delivery in flight per instance: whatever is committed meanwhile waits in the table.
  t = await startTestServer({ subscriptions: { concurrency: 1, urgentReserve: 0, pollIntervalMs: 100 } });
  t.server.subscriptions.onUrgencyChange((urgent) => urgency.push(urgent));
});

afterAll(async () => {
  await t?.close();
  await hooks?.close();
});

const subscribe = (code: string, priority?: string): Promise<Subscription> =>
  subscribeToCode(t.medplum, hooks.url, 'priority test', code, priority);
const observation = codedObservation;

test('an urgent delivery waiting behind routine ones is claimed first', async () => {
  await subscribe('blocker');
  await subscribe('routine');
  alarmSubscription = await subscribe('alarm', 'stat');
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  hooks.hold = (hook) => ((hook.resource.code as { coding: { code: string }[] }).coding[0].code === 'blocker' ? gate : undefined);

  await t.medplum.createResource(observation('blocker'));
  await hooks.waitFor((all) => all.length === 1, 30_000);
  const routine = [];
  for (let i = 0; i < 3; i++) routine.push(await t.medplum.createResource(observation('routine')));
  const alarm = await t.medplum.createResource(observation('alarm'));

  // All four are dispatched (in the table, waiting) before the blocker's slot frees up.
  const db = new pg.Client({ connectionString: t.databaseUrl });
  await db.connect();
  try {
    for (let i = 0; i < 600; i++) {
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM subscription_delivery WHERE status = 'pending' AND resource_type = 'Observation' AND attempts = 0",
      );
      if (rows[0].n === 4) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await db.end();
  }
  release();
  await hooks.waitFor((all) => all.length === 5, 30_000);
  expect(hooks.received.map((h) => h.resource.id)).toEqual([expect.any(String), alarm.id, ...routine.map((r) => r.id)]);
});

test('the engine tells when urgent subscriptions come and go', async () => {
  // Told at once (none before any was loaded), then true once the stat subscription was active.
  expect(urgency[0]).toBe(false);
  expect(urgency.at(-1)).toBe(true);
  await t.medplum.updateResource<Subscription>({ ...(alarmSubscription as Subscription), status: 'off' });
  // The next dispatch reloads the changed subscriptions.
  await t.medplum.createResource(observation('routine'));
  await vi.waitFor(() => expect(urgency.at(-1)).toBe(false), { timeout: 30_000, interval: 50 });
});
