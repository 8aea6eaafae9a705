import type { Bundle, Encounter, Parameters, SubscriptionStatus } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { waitFor } from '../../test/workflow-agents.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const modes = [
  { name: 'fan-out through PostgreSQL NOTIFY', redisUrl: undefined },
  ...(process.env.REDIS_URL ? [{ name: 'fan-out through Redis pub/sub', redisUrl: process.env.REDIS_URL }] : []),
];

describe.each(modes)('websocket channel ($name)', ({ redisUrl }) => {
  let t: TestServer;
  let other: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ redisUrl }, { keepDatabase: true });
    other = await startTestServer({ redisUrl }, { databaseUrl: t.databaseUrl, keepDatabase: true, clientSecret: t.admin.clientSecret });
  });
  afterAll(async () => {
    await other?.close();
    await t?.close();
    await t?.dropDatabase();
  });

  test('MedplumClient.subscribeToCriteria receives notifications, also for writes on another instance', async () => {
    await t.medplum.getProfileAsync();
    const emitter = t.medplum.subscribeToCriteria('Encounter?status=arrived');
    const bundles: Bundle[] = [];
    let connected = false;
    emitter.addEventListener('connect', () => {
      connected = true;
    });
    emitter.addEventListener('message', (e) => bundles.push(e.payload as Bundle));
    for (let i = 0; i < 200 && !connected; i++) await sleep(20);
    expect(connected).toBe(true);

    const e1 = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'planned', class: { code: 'EMER' } });
    // Written through the second instance: fanned out to the socket on the first (Redis or NOTIFY).
    const e2 = await other.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    for (let i = 0; i < 200 && bundles.length < 2; i++) await sleep(20);
    await sleep(200);
    const focus = bundles.map((b) => (b.entry?.[0]?.resource as SubscriptionStatus | undefined)?.notificationEvent?.[0]?.focus?.reference);
    expect(focus).toEqual([`Encounter/${e1.id}`, `Encounter/${e2.id}`]);
    expect((bundles[0].entry?.[1]?.resource as Encounter | undefined)?.status).toBe('arrived');
    t.medplum.unsubscribeFromCriteria('Encounter?status=arrived');
    t.medplum.getSubscriptionManager().closeWebSocket();
  });

  test('a websocket Subscription is matched only while a client is bound to it', async () => {
    const sub = await t.medplum.createResource({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'x',
      criteria: 'Encounter?status=triaged',
      channel: { type: 'websocket' },
    });
    const matched: string[] = [];
    const record = (notices: { subscriptionId: string; resource: { id: string } }[]) => {
      for (const n of notices) if (n.subscriptionId === sub.id) matched.push(n.resource.id);
    };
    const offs = [t.server.subscriptions.onNotification(record), other.server.subscriptions.onNotification(record)];
    const off = () => {
      for (const o of offs) o();
    };
    try {
      const unbound = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'triaged', class: { code: 'EMER' } });
      // Matching happens at dispatch, not at the write: the unbound write must be dispatched before
      // the client binds, or (on a loaded machine) it is matched against the binding after all.
      const pool = t.server.app.repoContext.pool;
      const pending = async () =>
        (await pool.query("SELECT 1 FROM subscription_outbox WHERE resource_type = 'Encounter' AND id = $1", [unbound.id])).rowCount;
      await waitFor(async () => ((await pending()) === 0 ? true : undefined), 5000, 'the unbound write to be dispatched');
      expect(await pending()).toBe(0);
      const params = await t.medplum.get<Parameters>(`fhir/R4/Subscription/${sub.id}/$get-ws-binding-token`, { cache: 'no-cache' });
      const token = params.parameter?.find((p) => p.name === 'token')?.valueString as string;
      const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}ws/subscriptions-r4`);
      const messages: Bundle[] = [];
      ws.addEventListener('message', (m) => messages.push(JSON.parse(String(m.data))));
      await new Promise((r) => ws.addEventListener('open', r));
      ws.send(JSON.stringify({ type: 'bind-with-token', payload: { token } }));
      for (let i = 0; i < 100 && messages.length < 1; i++) await sleep(20);
      // Written on the other instance, which may dispatch it: the binding is in the database.
      const bound = await other.medplum.createResource<Encounter>({
        resourceType: 'Encounter',
        status: 'triaged',
        class: { code: 'EMER' },
      });
      for (let i = 0; i < 100 && messages.length < 2; i++) await sleep(20);
      expect(messages.map((m) => (m.entry?.[1]?.resource as Encounter | undefined)?.id)).toEqual([undefined, bound.id]);
      ws.close();
      await sleep(300);
      const after = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'triaged', class: { code: 'EMER' } });
      await sleep(500);
      expect(matched).toEqual([bound.id]);
      expect(matched).not.toContain(unbound.id);
      expect(matched).not.toContain(after.id);
    } finally {
      off();
    }
  });

  test('binding tokens are not API bearer tokens; binding needs a valid token', async () => {
    const sub = await t.medplum.createResource({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'x',
      criteria: 'Patient',
      channel: { type: 'websocket' },
    });
    const params = await t.medplum.get<Parameters>(`fhir/R4/Subscription/${sub.id}/$get-ws-binding-token`, { cache: 'no-cache' });
    const token = params.parameter?.find((p) => p.name === 'token')?.valueString as string;
    expect(params.parameter?.find((p) => p.name === 'websocket-url')?.valueUrl).toBe(
      `${t.baseUrl.replace('http', 'ws')}ws/subscriptions-r4`,
    );
    const res = await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}ws/subscriptions-r4`);
    const messages: unknown[] = [];
    ws.addEventListener('message', (m) => messages.push(JSON.parse(String(m.data))));
    await new Promise((r) => ws.addEventListener('open', r));
    ws.send(JSON.stringify({ type: 'bind-with-token', payload: { token: 'nope' } }));
    ws.send(JSON.stringify({ type: 'bind-with-token', payload: { token } }));
    for (let i = 0; i < 100 && messages.length < 2; i++) await sleep(20);
    expect((messages[0] as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect(((messages[1] as Bundle).entry?.[0]?.resource as SubscriptionStatus | undefined)?.type).toBe('handshake');
    ws.close();
  });
});
