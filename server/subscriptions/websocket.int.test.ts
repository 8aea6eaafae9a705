import type { Bundle, Encounter, Parameters, SubscriptionStatus } from '@medplum/fhirtypes';
import pg from 'pg';
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
      // Once or, when the instance that did not write dispatched it (its fallback poll), twice.
      expect([...new Set(matched)]).toEqual([bound.id]);
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

// One instance: with a second one, either instance's dispatch may take the row once the lock below
// is released, and the other instance does not know the notice was sent (at least once, see
// SubscriptionEngine.committed).
describe.each(modes)('websocket notices at the commit of a create ($name)', ({ redisUrl }) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ redisUrl });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('a notice leaves at the commit of its write, before the outbox dispatch, and only once', async () => {
    await s.medplum.getProfileAsync();
    const criteria = 'Encounter?status=onleave';
    const emitter = s.medplum.subscribeToCriteria(criteria);
    const ids: string[] = [];
    let connected = false;
    emitter.addEventListener('connect', () => {
      connected = true;
    });
    emitter.addEventListener('message', (e) => {
      const encounter = (e.payload as Bundle).entry?.[1]?.resource;
      if (encounter?.resourceType === 'Encounter') ids.push(encounter.id as string);
    });
    const db = new pg.Client({ connectionString: s.databaseUrl });
    await db.connect();
    const pending = async (id: string) =>
      (await db.query("SELECT 1 FROM subscription_outbox WHERE resource_type = 'Encounter' AND id = $1", [id])).rowCount;
    try {
      await waitFor(async () => (connected ? true : undefined), 5000, 'the websocket to connect');
      const onleave = { resourceType: 'Encounter', status: 'onleave', class: { code: 'EMER' } } as const;
      // Dispatched as before (the binding changed the Subscriptions: their next dispatch checks them).
      const first = await s.medplum.createResource<Encounter>(onleave);
      await waitFor(async () => (ids.length === 1 ? true : undefined), 5000, 'the first notice');
      // Every dispatch's claim reads subscription_state: while this lock is held, no outbox row of
      // either instance is dispatched.
      await db.query('BEGIN');
      await db.query('LOCK TABLE subscription_state IN ACCESS EXCLUSIVE MODE');
      let second: Encounter;
      try {
        second = await s.medplum.createResource<Encounter>(onleave);
        await waitFor(async () => (ids.length === 2 ? true : undefined), 5000, 'the notice of a write not yet dispatched');
        expect(await pending(second.id as string)).toBe(1);
        // An update waits for the dispatch: sent now, it could overtake an earlier version still queued.
        await s.medplum.updateResource<Encounter>({ ...second, priority: { text: 'urgent' } });
        await sleep(500);
        expect(ids).toHaveLength(2);
      } finally {
        await db.query('ROLLBACK');
      }
      await waitFor(async () => ((await pending(second.id as string)) === 0 ? true : undefined), 5000, 'the dispatch');
      await waitFor(async () => (ids.length === 3 ? true : undefined), 5000, "the update's notice");
      await sleep(300);
      // The dispatch matched the create too, and left its notice out.
      expect(ids).toEqual([first.id, second.id, second.id]);
    } finally {
      await db.end();
      s.medplum.unsubscribeFromCriteria(criteria);
      s.medplum.getSubscriptionManager().closeWebSocket();
    }
  });
});
