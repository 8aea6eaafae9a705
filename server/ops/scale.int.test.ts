// Horizontal scale without containers: two server processes on one PostgreSQL (and Redis when
// REDIS_URL is set) behind a round-robin proxy, under a write load with a rest-hook Subscription;
// one process is SIGKILLed mid-way. Every write the client saw succeed is committed and delivered,
// no event is delivered twice at the same time, and the receiver's effect happens once per version.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Observation, Subscription } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { clientToken, type RoundRobinProxy, type ServerChild, spawnServer, startRoundRobinProxy } from '../../test/cluster.ts';
import { createScratchDatabase } from '../../test/database.ts';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const admin = { clientId: randomUUID(), clientSecret: randomBytes(32).toString('hex') };
const ENV = { SUBSCRIPTION_BACKOFF_MS: '50', SUBSCRIPTION_POLL_MS: '200', SUBSCRIPTION_TIMEOUT_MS: '1000', SUBSCRIPTION_LEASE_MS: '1500' };

let db: { url: string; drop(): Promise<void> };
let hooks: HookReceiver;
let servers: ServerChild[] = [];
let proxy: RoundRobinProxy | undefined;

beforeAll(async () => {
  db = await createScratchDatabase(inject('adminDatabaseUrl'));
  hooks = await startHookReceiver();
  proxy = await startRoundRobinProxy(servers);
  // The first start migrates and bootstraps; the second joins the same database.
  const journalDir = inject('auditJournalDir');
  servers.push(await spawnServer({ name: 'a', databaseUrl: db.url, admin, baseUrl: proxy.url, journalDir, env: ENV }));
  servers.push(await spawnServer({ name: 'b', databaseUrl: db.url, admin, baseUrl: proxy.url, journalDir, env: ENV }));
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all(servers.map((s) => s.kill()));
  servers = [];
  await hooks?.close();
  await db?.drop();
});

test('two instances behind a proxy, one SIGKILLed under load: no acknowledged write lost, no duplicate effect', {
  timeout: 120_000,
}, async () => {
  const base = proxy?.url as string;
  const token = await clientToken(base, admin);
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const fhir = `${base}fhir/R4/`;
  const sub = await fetch(`${fhir}Subscription`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'scale test',
      criteria: 'Observation',
      channel: { type: 'rest-hook', endpoint: hooks.url },
    } satisfies Subscription),
  });
  expect(sub.status).toBe(201);
  // A slow receiver keeps deliveries in flight when the kill comes.
  hooks.delay = () => 5 + Math.floor(Math.random() * 20);

  const committed = new Set<string>();
  const failures: number[] = [];
  const reasons = new Map<string, number>();
  let stop = false;
  const writer = async (w: number) => {
    let current: Observation | undefined;
    let i = 0;
    while (!stop) {
      i++;
      try {
        const body: Observation = current
          ? { ...current, valueInteger: i }
          : { resourceType: 'Observation', status: 'final', code: { text: `scale w${w}` }, valueInteger: i };
        const res = await fetch(current ? `${fhir}Observation/${current.id}` : `${fhir}Observation`, {
          method: current ? 'PUT' : 'POST',
          headers,
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(5_000),
        });
        if (res.ok) {
          const saved = (await res.json()) as Observation;
          committed.add(`${saved.id}|${saved.meta?.versionId}`);
          current = i % 3 === 0 ? undefined : saved;
        } else {
          failures.push(performance.now());
          reasons.set(`${res.status} ${(await res.text().catch(() => '')).slice(0, 80)}`, (reasons.get(`${res.status}`) ?? 0) + 1);
          current = undefined;
        }
      } catch (err) {
        failures.push(performance.now());
        reasons.set(String(err), 1);
        current = undefined;
      }
      await sleep(2);
    }
  };
  const writers = [0, 1, 2, 3, 4, 5].map(writer);
  await sleep(2_000);
  const killedAt = performance.now();
  await servers[0].kill();
  await sleep(2_500);
  stop = true;
  await Promise.all(writers);

  // Every acknowledged write is in the database.
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query<{ k: string }>(
    `SELECT id || '|' || version_id AS k FROM resource_history WHERE resource_type = 'Observation'`,
  );
  await client.end();
  const stored = new Set(rows.map((r) => r.k));
  expect([...committed].filter((c) => !stored.has(c))).toEqual([]);

  // ...and reaches the receiver at least once (the survivor takes over the dead one's leases).
  const key = (h: { resource: { id: string; meta?: { versionId?: string } } }) => `${h.resource.id}|${h.resource.meta?.versionId}`;
  await hooks.waitFor((all) => {
    const got = new Set(all.map(key));
    return [...committed].every((c) => got.has(c));
  }, 30_000);
  const got = new Set(hooks.received.map(key));
  // Never two deliveries of one event at the same time; the effect (keyed by version) applies once.
  expect(hooks.maxParallelPerVersion).toBe(1);
  const effects = new Set<string>();
  let duplicates = 0;
  for (const h of hooks.received) {
    const k = key(h);
    if (effects.has(k)) duplicates++;
    effects.add(k);
  }
  expect(effects.size).toBe(got.size);
  const afterKill = failures.filter((f) => f >= killedAt);
  const gapMs = afterKill.length ? Math.round(Math.max(...afterKill) - killedAt) : 0;
  console.log(
    `scale test: ${committed.size} acknowledged writes, ${failures.length} failed requests (failover gap ${gapMs} ms), ` +
      `${hooks.received.length} deliveries (${duplicates} redeliveries after the kill), proxy split ${proxy?.forwarded.join('/')}`,
  );
  if (process.env.OPS_DEBUG) console.log(reasons);
  // Enough load for the kill to land mid-stream (a loaded shared machine writes fewer).
  expect(committed.size).toBeGreaterThan(30);
  // The survivor carried the load after the kill.
  expect(servers[1].alive()).toBe(true);
});
