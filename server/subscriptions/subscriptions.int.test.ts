import { createHmac } from 'node:crypto';
import type { AuditEvent, Device, Encounter, Observation, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { EXT } from './subscription.ts';

let t: TestServer;
let hooks: HookReceiver;

beforeAll(async () => {
  hooks = await startHookReceiver();
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200, pollIntervalMs: 100 } });
});

afterAll(async () => {
  await t?.close();
  await hooks?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function subscribe(
  criteria: string,
  extra: Partial<Subscription> = {},
  path = `/${Math.random().toString(36).slice(2)}`,
): Promise<{ sub: Subscription; path: string }> {
  const sub = await t.medplum.createResource<Subscription>({
    resourceType: 'Subscription',
    status: 'active',
    reason: 'test',
    criteria,
    channel: { type: 'rest-hook', endpoint: hooks.url + path, ...(extra.channel ?? {}) },
    ...(extra.extension ? { extension: extra.extension } : {}),
  });
  return { sub, path };
}

function hooksFor(subId: string) {
  return hooks.received.filter((h) => h.headers['x-medplum-subscription'] === subId);
}

describe('rest-hook subscriptions', () => {
  test('Encounter, Observation and Device fire on the declared interactions', async () => {
    const enc = await subscribe('Encounter?class=EMER');
    const obsCreateOnly = await subscribe('Observation', {
      extension: [{ url: EXT.interaction, valueCode: 'create' }],
    });
    const dev = await subscribe('Device', {
      extension: [
        { url: EXT.interaction, valueCode: 'update' },
        { url: EXT.interaction, valueCode: 'delete' },
      ],
    });
    const e = await t.medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'arrived',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    });
    await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'AMB' } });
    const e2 = await t.medplum.updateResource<Encounter>({ ...e, status: 'in-progress' });
    await t.medplum.deleteResource('Encounter', e.id as string);
    const o = await t.medplum.createResource<Observation>({ resourceType: 'Observation', status: 'final', code: { text: 'hr' } });
    await t.medplum.updateResource<Observation>({ ...o, status: 'amended' });
    const d = await t.medplum.createResource<Device>({ resourceType: 'Device', status: 'active' });
    const d2 = await t.medplum.updateResource<Device>({ ...d, status: 'inactive' });
    await t.medplum.deleteResource('Device', d.id as string);

    await hooks.waitFor(() => hooksFor(enc.sub.id as string).length >= 3 && hooksFor(dev.sub.id as string).length >= 2);
    await sleep(300);
    const encHooks = hooksFor(enc.sub.id as string);
    expect(encHooks.map((h) => h.headers['x-medplum-interaction'])).toEqual(['create', 'update', 'delete']);
    expect(encHooks[0].resource.id).toBe(e.id);
    expect(encHooks[1].resource.meta?.versionId).toBe(e2.meta?.versionId);
    expect(encHooks[2].headers['x-medplum-deleted-resource']).toBe(`Encounter/${e.id}`);
    expect(encHooks[0].headers['content-type']).toContain('application/fhir+json');

    const obsHooks = hooksFor(obsCreateOnly.sub.id as string);
    expect(obsHooks.map((h) => h.headers['x-medplum-interaction'])).toEqual(['create']);
    expect(obsHooks[0].resource.id).toBe(o.id);

    const devHooks = hooksFor(dev.sub.id as string);
    expect(devHooks.map((h) => h.headers['x-medplum-interaction'])).toEqual(['update', 'delete']);
    expect(devHooks[0].resource.meta?.versionId).toBe(d2.meta?.versionId);
  });

  test('every create of a transaction Bundle fires once (the creates are written in one statement)', async () => {
    const { sub } = await subscribe('Encounter?class=EMER');
    const entry = Array.from({ length: 12 }, (_, i) => ({
      fullUrl: `urn:uuid:${crypto.randomUUID()}`,
      request: { method: 'POST' as const, url: 'Encounter' },
      resource: {
        resourceType: 'Encounter' as const,
        status: 'arrived' as const,
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: i % 3 === 0 ? 'AMB' : 'EMER' },
      },
    }));
    const result = await t.medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry });
    const emergencies = (result.entry ?? []).filter((_, i) => i % 3 !== 0).map((e) => e.resource?.id);
    await hooks.waitFor(() => hooksFor(sub.id as string).length >= emergencies.length);
    await sleep(300);
    const received = hooksFor(sub.id as string);
    expect(received.map((h) => h.headers['x-medplum-interaction'])).toEqual(emergencies.map(() => 'create'));
    expect(received.map((h) => h.resource.id).sort()).toEqual([...emergencies].sort());
  });

  test('FHIRPath criteria see %previous and %current', async () => {
    const { sub } = await subscribe('Encounter', {
      extension: [{ url: EXT.fhirPath, valueString: "%previous.status = 'arrived' and %current.status = 'triaged'" }],
    });
    const e = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    const triaged = await t.medplum.updateResource<Encounter>({ ...e, status: 'triaged' });
    await t.medplum.updateResource<Encounter>({ ...triaged, status: 'in-progress' });
    await hooks.waitFor(() => hooksFor(sub.id as string).length >= 1);
    await sleep(300);
    expect(hooksFor(sub.id as string).map((h) => h.resource.meta?.versionId)).toEqual([triaged.meta?.versionId]);
  });

  test('Observation?value-quantity=gt100 matches 120 and not 80 (even after a later update)', async () => {
    const { sub } = await subscribe('Observation?value-quantity=gt100');
    const make = (v: number) =>
      t.medplum.createResource<Observation>({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'hr' },
        valueQuantity: { value: v, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      });
    const high = await make(120);
    const low = await make(80);
    // Immediately changed: the event is matched against its own version (130), not the current one (90).
    const high2 = await make(130);
    await t.medplum.updateResource<Observation>({ ...high2, valueQuantity: { ...high2.valueQuantity, value: 90 } });
    await hooks.waitFor(() => hooksFor(sub.id as string).length >= 2);
    await sleep(300);
    const ids = hooksFor(sub.id as string).map((h) => h.resource.id);
    expect(ids).toContain(high.id);
    expect(ids).toContain(high2.id);
    expect(ids).not.toContain(low.id);
    expect(ids).toHaveLength(2);
  });

  test('HMAC signature and channel headers', async () => {
    const secret = 'top-secret';
    const { sub } = await subscribe('Device?status=active', {
      extension: [{ url: EXT.secret, valueString: secret }],
      channel: { type: 'rest-hook', header: ['Authorization: Bearer abc', 'X-Custom: 1'] } as Subscription['channel'],
    });
    await t.medplum.createResource<Device>({ resourceType: 'Device', status: 'active' });
    await hooks.waitFor(() => hooksFor(sub.id as string).length >= 1);
    const h = hooksFor(sub.id as string)[0];
    expect(h.headers['x-signature']).toBe(createHmac('sha256', secret).update(h.body).digest('hex'));
    expect(h.headers.authorization).toBe('Bearer abc');
    expect(h.headers['x-custom']).toBe('1');
  });

  test('a failing endpoint is retried with backoff, dead-lettered, then replayed', async () => {
    const { sub } = await subscribe('Observation?code=fail-test', {
      extension: [{ url: EXT.maxAttempts, valueInteger: 3 }],
    });
    let failing = true;
    const prev = hooks.status;
    hooks.status = (h) => (h.headers['x-medplum-subscription'] === sub.id && failing ? 503 : prev(h));
    const o = await t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ code: 'fail-test' }] },
    });
    await hooks.waitFor(() => hooksFor(sub.id as string).length >= 3);
    const times = hooksFor(sub.id as string).map((h) => h.receivedAt);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(40);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(80);
    // Dead-lettered: listed by the admin API.
    let dead: { id: string; resource: string; attempts: number }[] = [];
    for (let i = 0; i < 100 && dead.length === 0; i++) {
      await sleep(20);
      const res = await t.medplum.get(`${t.baseUrl}admin/subscriptions/dead-letters`, { cache: 'no-cache' });
      dead = (res.deadLetters as typeof dead).filter((d) => d.resource === `Observation/${o.id}`);
    }
    expect(dead).toHaveLength(1);
    expect(dead[0].attempts).toBe(3);
    await sleep(200);
    expect(hooksFor(sub.id as string)).toHaveLength(3);
    failing = false;
    const replay = await t.medplum.post(`${t.baseUrl}admin/subscriptions/dead-letters/${dead[0].id}/$replay`, {});
    expect(replay.replayed).toBe(1);
    await hooks.waitFor(() => hooksFor(sub.id as string).length >= 4);
    const after = await t.medplum.get(`${t.baseUrl}admin/subscriptions/dead-letters`, { cache: 'no-cache' });
    expect((after.deadLetters as typeof dead).filter((d) => d.resource === `Observation/${o.id}`)).toHaveLength(0);
    hooks.status = prev;

    // Every attempt is audited: 3 failures + 1 success, naming the subscription and the version.
    const audits = await t.medplum.searchResources('AuditEvent', { entity: `Subscription/${sub.id}`, _count: '50' }, { cache: 'no-cache' });
    const mine = audits.filter((a) => a.entity?.some((e) => e.what?.reference === `Observation/${o.id}/_history/${o.meta?.versionId}`));
    expect(mine.map((a) => a.outcome).sort()).toEqual(['0', '4', '4', '8']);
    expect(mine.every((a) => a.entity?.[1]?.detail?.some((d) => d.type === 'duration-ms'))).toBe(true);
  });

  test('bad URL and missing bot are audited failures and dead letters', async () => {
    const bad = await t.medplum.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'x',
      criteria: 'Device?status=entered-in-error',
      channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:1/nothing' },
      extension: [{ url: EXT.maxAttempts, valueInteger: 1 }],
    });
    const bot = await t.medplum.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'x',
      criteria: 'Device?status=entered-in-error',
      channel: { type: 'rest-hook', endpoint: 'Bot/does-not-exist' },
      extension: [{ url: EXT.maxAttempts, valueInteger: 1 }],
    });
    await t.medplum.createResource<Device>({ resourceType: 'Device', status: 'entered-in-error' });
    let audits: AuditEvent[] = [];
    for (let i = 0; i < 200; i++) {
      audits = (
        await t.medplum.searchResources('AuditEvent', { entity: `Subscription/${bad.id},Subscription/${bot.id}` }, { cache: 'no-cache' })
      ).filter((a) => a.subtype?.some((c) => c.code === 'subscription-delivery'));
      if (audits.length >= 2) break;
      await sleep(25);
    }
    expect(audits).toHaveLength(2);
    expect(audits.every((a) => a.outcome === '8')).toBe(true);
    expect(audits.map((a) => a.outcomeDesc).join('\n')).toMatch(/bot|Bot/);
    expect(audits.map((a) => a.outcomeDesc).join('\n')).toMatch(/POST http:\/\/127\.0\.0\.1:1 failed/);
  });

  test('versions of one resource are delivered in order under rapid updates', async () => {
    const { sub } = await subscribe('Encounter?status:not=cancelled');
    let e = await t.medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'planned',
      class: { code: 'EMER' },
      length: { value: 0 },
    });
    const versions = [e.meta?.versionId];
    // Slow, flaky receiver: the first attempt of every 3rd version fails, so retries must not reorder.
    const prev = hooks.status;
    const seen = new Set<string>();
    let n = 0;
    hooks.status = (h) => {
      if (h.headers['x-medplum-subscription'] !== sub.id) return prev(h);
      const v = h.resource.meta?.versionId as string;
      if (n++ % 3 === 0 && !seen.has(v)) {
        seen.add(v);
        return 500;
      }
      return 200;
    };
    for (let i = 1; i <= 20; i++) {
      e = await t.medplum.updateResource<Encounter>({ ...e, length: { value: i } });
      versions.push(e.meta?.versionId);
    }
    await hooks.waitFor(() => new Set(hooksFor(sub.id as string).map((h) => h.resource.meta?.versionId)).size >= 21, 20_000);
    hooks.status = prev;
    const delivered = hooksFor(sub.id as string).map((h) => h.resource.meta?.versionId);
    // Drop retries of the same version: the first occurrences must be in version order.
    const order = delivered.filter((v, i) => delivered.indexOf(v) === i);
    expect(order).toEqual(versions);
    // A version is never delivered again after a later version was delivered.
    const lastIndex = new Map(delivered.map((v, i) => [v, i]));
    for (let i = 1; i < versions.length; i++) {
      expect(lastIndex.get(versions[i - 1]) as number).toBeLessThan(delivered.indexOf(versions[i]));
    }
  });

  test('AuditEvents never trigger subscriptions; an unchanged update triggers nothing', async () => {
    const { sub } = await subscribe('AuditEvent');
    const { sub: dsub } = await subscribe('Device?status=inactive');
    const d = await t.medplum.createResource<Device>({ resourceType: 'Device', status: 'inactive' });
    await t.medplum.updateResource<Device>({ ...d });
    await t.medplum.createResource<AuditEvent>({
      resourceType: 'AuditEvent',
      type: { code: 'x' },
      recorded: new Date().toISOString(),
      agent: [{ requestor: true }],
      source: { observer: { display: 'x' } },
    });
    await hooks.waitFor(() => hooksFor(dsub.id as string).length >= 1);
    await sleep(400);
    expect(hooksFor(dsub.id as string)).toHaveLength(1);
    expect(hooksFor(sub.id as string)).toHaveLength(0);
  });

  test('dead-letter API is for admins only', async () => {
    const res = await fetch(`${t.baseUrl}admin/subscriptions/dead-letters`);
    expect(res.status).toBe(401);
  });

  test('delivered rows are pruned after the retention; dead letters stay', async () => {
    const deadLetters = async () =>
      ((await t.medplum.get(`${t.baseUrl}admin/subscriptions/dead-letters`, { cache: 'no-cache' })).deadLetters as unknown[]).length;
    const dead = await deadLetters();
    expect(await t.server.subscriptions.prune()).toBe(0);
    // A day and an hour later (retention 24 h): every delivered row of this file's tests goes.
    const pruned = await t.server.subscriptions.prune(new Date(Date.now() + 25 * 3600_000));
    expect(pruned).toBeGreaterThan(0);
    expect(await t.server.subscriptions.prune(new Date(Date.now() + 25 * 3600_000))).toBe(0);
    expect(await deadLetters()).toBe(dead);
  });
});
