import type { Encounter, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import type { BotExecuteRequest, BotExecuteResult, BotExecutor } from './bot-executor.ts';
import { EXT } from './subscription.ts';

const fast = { subscriptions: { backoffBaseMs: 30, backoffMaxMs: 100, pollIntervalMs: 100 } };
// Few delivery slots: the workers often run out of room, then must claim backlog later (a regression
// test for a stalled claim loop; the poll is slow so notifications must do the work).
const narrow = { subscriptions: { backoffBaseMs: 30, backoffMaxMs: 100, pollIntervalMs: 5_000, concurrency: 3 } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class FakeBots implements BotExecutor {
  calls: BotExecuteRequest[] = [];
  fail = new Set<string>();
  async execute(req: BotExecuteRequest): Promise<BotExecuteResult> {
    this.calls.push(req);
    if (this.fail.has(req.botId)) return { ok: false, status: 400, error: 'bot threw: boom', durationMs: 1, log: '' };
    return { ok: true, status: 200, returnValue: { ok: 1 }, durationMs: 1, log: '' };
  }
}

describe('Bot endpoints', () => {
  let t: TestServer;
  const bots = new FakeBots();
  beforeAll(async () => {
    t = await startTestServer(fast);
    t.server.subscriptions.setBotExecutor(bots);
  });
  afterAll(async () => {
    await t?.close();
  });

  test('Bot/{id} endpoints run the bot with the resource as FHIR JSON; failures retry then dead-letter', async () => {
    await t.medplum.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'triage',
      criteria: 'Encounter?class=EMER',
      channel: { type: 'rest-hook', endpoint: 'Bot/triage-bot' },
    });
    await t.medplum.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'broken',
      criteria: 'Encounter?class=EMER',
      channel: { type: 'rest-hook', endpoint: 'Bot/broken-bot' },
      extension: [{ url: EXT.maxAttempts, valueInteger: 2 }],
    });
    bots.fail.add('broken-bot');
    const e = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    for (let i = 0; i < 200 && bots.calls.filter((c) => c.botId === 'broken-bot').length < 2; i++) await sleep(20);
    const triage = bots.calls.filter((c) => c.botId === 'triage-bot');
    expect(triage).toHaveLength(1);
    expect(triage[0].contentType).toBe('application/fhir+json');
    expect((triage[0].input as Encounter).id).toBe(e.id);
    expect(triage[0].headers?.['X-Medplum-Interaction']).toBe('create');
    expect(bots.calls.filter((c) => c.botId === 'broken-bot')).toHaveLength(2);
    let dead: { resource: string; lastError: string }[] = [];
    for (let i = 0; i < 100 && dead.length === 0; i++) {
      await sleep(20);
      dead = (
        (await t.medplum.get(`${t.baseUrl}admin/subscriptions/dead-letters`, { cache: 'no-cache' })).deadLetters as typeof dead
      ).filter((d) => d.resource === `Encounter/${e.id}`);
    }
    expect(dead).toHaveLength(1);
    expect(dead[0].lastError).toContain('boom');
    bots.fail.clear();
    const res = await t.medplum.post(`${t.baseUrl}admin/subscriptions/dead-letters/$replay`, {});
    expect(res.replayed).toBe(1);
    for (let i = 0; i < 100 && bots.calls.filter((c) => c.botId === 'broken-bot').length < 3; i++) await sleep(20);
    expect(bots.calls.filter((c) => c.botId === 'broken-bot')).toHaveLength(3);
  });
});

describe('several instances on one database', () => {
  let a: TestServer;
  let b: TestServer;
  let hooks: HookReceiver;
  beforeAll(async () => {
    hooks = await startHookReceiver();
    a = await startTestServer(narrow, { keepDatabase: true });
    b = await startTestServer(narrow, { databaseUrl: a.databaseUrl, keepDatabase: true, clientSecret: a.admin.clientSecret });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await a?.dropDatabase();
    await hooks?.close();
  });

  test('each event is delivered once, never twice in parallel, in version order', async () => {
    // A slow receiver that fails now and then widens the window in which a second worker could
    // pick up the same event while the first is still delivering it.
    hooks.delay = () => 15;
    let n = 0;
    hooks.status = () => (++n % 7 === 0 ? 503 : 200);
    const sub = await a.medplum.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'x',
      criteria: 'Encounter',
      channel: { type: 'rest-hook', endpoint: hooks.url },
      extension: [{ url: EXT.maxAttempts, valueInteger: 10 }],
    });
    // Both instances write; both instances' workers deliver.
    const encounters = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } }),
      ),
    );
    const updates: Encounter[] = [];
    for (const e of encounters.slice(0, 10)) {
      let cur = e;
      for (let i = 0; i < 3; i++) {
        cur = await (i % 2 ? a : b).medplum.updateResource<Encounter>({ ...cur, length: { value: i } });
        updates.push(cur);
      }
    }
    const expected = encounters.length + updates.length;
    const { pool } = a.server.app.repoContext;
    for (let i = 0; i < 400; i++) {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM subscription_delivery WHERE subscription_id = $1 AND status = 'delivered'`,
        [sub.id],
      );
      if (rows[0].n >= expected) break;
      await sleep(50);
    }
    await sleep(300);
    const mine = hooks.received.filter((h) => h.headers['x-medplum-subscription'] === sub.id);
    // Each version delivered (successfully answered) exactly once; retries only after a failure.
    const keys = new Set(mine.map((h) => h.resource.meta?.versionId));
    expect(keys.size).toBe(expected);
    expect(hooks.maxParallelPerVersion).toBe(1);
    const { rows } = await a.server.app.repoContext.pool.query<{ owners: number; delivered: number; attempts: number }>(
      `SELECT count(DISTINCT lease_owner)::int AS owners, count(*) FILTER (WHERE status = 'delivered')::int AS delivered, sum(attempts)::int AS attempts
       FROM subscription_delivery WHERE subscription_id = $1`,
      [sub.id],
    );
    expect(rows[0].delivered).toBe(expected);
    // One request per attempt: no attempt was made twice.
    expect(rows[0].attempts).toBe(mine.length);
    // Both instances took part.
    expect(rows[0].owners).toBe(2);
    // Version order per resource (first arrival of each version).
    for (const e of encounters.slice(0, 10)) {
      const seen = mine.filter((h) => h.resource.id === e.id).map((h) => h.resource.meta?.versionId);
      const firsts = seen.filter((v, i) => seen.indexOf(v) === i);
      const want = [e.meta?.versionId, ...updates.filter((u) => u.id === e.id).map((u) => u.meta?.versionId)];
      expect(firsts).toEqual(want);
    }
  });
});
