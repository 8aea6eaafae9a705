/**
 * Websocket notifications follow the subscriber's AccessPolicy: staff roles may open websocket
 * Subscriptions (the app's live board) but are pushed only what they may read, as they would read it.
 */
import { MedplumClient, type WithId } from '@medplum/core';
import type { Bundle, Encounter, Project, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createUser } from '../auth/admin.ts';

let t: TestServer;
let clerk: MedplumClient;
const PASSWORD = 'correct horse battery staple';
const STEP = 'https://emergisphere.dev/fhir/CodeSystem/workflow-step';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await startTestServer();
  await createUser(t.server.app.repo(), t.server.bootstrap.project as WithId<Project>, {
    email: 'clerk@h.example',
    password: PASSWORD,
    firstName: 'Reg',
    lastName: 'Clerk',
    role: 'registration-clerk',
  });
  clerk = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  const login = await clerk.startLogin({ email: 'clerk@h.example', password: PASSWORD });
  await clerk.processCode(login.code as string);
});

afterAll(async () => {
  clerk?.getSubscriptionManager().closeWebSocket();
  await t?.close();
});

async function listen(criteria: string): Promise<Bundle[]> {
  const received: Bundle[] = [];
  let connected = false;
  const emitter = clerk.subscribeToCriteria(criteria);
  emitter.addEventListener('connect', () => {
    connected = true;
  });
  emitter.addEventListener('message', (e) => received.push(e.payload as Bundle));
  for (let i = 0; i < 250 && !connected; i++) await sleep(20);
  expect(connected).toBe(true);
  return received;
}

const pushed = (bundles: Bundle[]) => bundles.map((b) => b.entry?.[1]?.resource).filter((r) => r !== undefined);

test('a registration clerk is pushed only the Tasks and Encounter fields their role may read', async () => {
  const tasks = await listen('Task');
  const encounters = await listen('Encounter');
  const task = (step: string): Task => ({
    resourceType: 'Task',
    status: 'ready',
    intent: 'order',
    code: { coding: [{ system: STEP, code: step }] },
  });
  const hidden = await t.medplum.createResource(task('triage'));
  const visible = await t.medplum.createResource(task('admission'));
  const encounter = await t.medplum.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { code: 'EMER' },
    reasonCode: [{ text: 'stab wound, police present' }],
  });
  for (let i = 0; i < 250 && (pushed(tasks).length < 1 || pushed(encounters).length < 1); i++) await sleep(20);
  await sleep(500);
  expect(pushed(tasks).map((r) => r?.id)).toEqual([visible.id]);
  expect(pushed(tasks).map((r) => r?.id)).not.toContain(hidden.id);
  const [seen] = pushed(encounters) as Encounter[];
  expect(seen.id).toBe(encounter.id);
  expect(seen.status).toBe('arrived');
  expect(seen.reasonCode).toBeUndefined();
});

test('staff roles may open websocket Subscriptions only', async () => {
  await expect(
    clerk.createResource({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'exfiltrate',
      criteria: 'Patient',
      channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook' },
    }),
  ).rejects.toThrow();
});
