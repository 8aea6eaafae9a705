// Crash test (issue "Bots and Subscriptions"): a real server runs as a child process under a
// steady write load and is SIGKILLed at random moments, then restarted. Every write the client saw
// a 2xx for must reach the rest-hook at least once, and the receiver's idempotent effect (keyed by
// resource version) must be applied exactly once.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Observation, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { clientToken, type ServerChild, spawnServer } from '../../test/cluster.ts';
import { createScratchDatabase } from '../../test/database.ts';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { freePort } from '../../test/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let db: { url: string; drop(): Promise<void> };
let hooks: HookReceiver;
let child: ServerChild | undefined;
let port: number;
const admin = { clientId: randomUUID(), clientSecret: randomBytes(32).toString('hex') };

/** The server process, restarted on the same port so the writers keep their address. */
function startChild(): Promise<ServerChild> {
  return spawnServer(
    {
      name: 'crash',
      databaseUrl: db.url,
      admin,
      baseUrl: `http://127.0.0.1:${port}/`,
      port,
      journalDir: inject('auditJournalDir'),
      env: { SUBSCRIPTION_BACKOFF_MS: '50', SUBSCRIPTION_POLL_MS: '200', SUBSCRIPTION_TIMEOUT_MS: '1000', SUBSCRIPTION_LEASE_MS: '1500' },
    },
    60_000,
  );
}

beforeAll(async () => {
  db = await createScratchDatabase(inject('adminDatabaseUrl'));
  hooks = await startHookReceiver();
  port = await freePort();
});

afterAll(async () => {
  await child?.kill();
  await hooks?.close();
  await db?.drop();
});

test('SIGKILL at random moments loses no committed write and duplicates no effect', { timeout: 240_000 }, async () => {
  const started = Date.now();
  child = await startChild();
  const token = await clientToken(child.url, admin);
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const fhir = `http://127.0.0.1:${port}/fhir/R4/`;
  const subRes = await fetch(`${fhir}Subscription`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'crash test',
      criteria: 'Observation',
      channel: { type: 'rest-hook', endpoint: hooks.url },
    } satisfies Subscription),
  });
  expect(subRes.status).toBe(201);

  // Steady load: 4 writers creating and updating Observations; a version counts as committed only
  // when the client saw its 2xx.
  const committed = new Set<string>();
  let stop = false;
  let failures = 0;
  const writer = async (w: number) => {
    let current: Observation | undefined;
    let i = 0;
    while (!stop) {
      i++;
      try {
        const body: Observation = current
          ? { ...current, valueInteger: i }
          : { resourceType: 'Observation', status: 'final', code: { text: `w${w}` }, valueInteger: i };
        const res = await fetch(current ? `${fhir}Observation/${current.id}` : `${fhir}Observation`, {
          method: current ? 'PUT' : 'POST',
          headers,
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(3_000),
        });
        if (res.ok) {
          const saved = (await res.json()) as Observation;
          committed.add(`${saved.id}|${saved.meta?.versionId}`);
          current = i % 4 === 0 ? undefined : saved;
        } else {
          failures++;
          await res.arrayBuffer().catch(() => undefined);
          current = undefined;
          await sleep(20);
        }
      } catch {
        failures++;
        current = undefined;
        await sleep(20);
      }
      await sleep(5);
    }
  };
  const writers = [0, 1, 2, 3].map(writer);

  // Kill and restart the server several times at random moments.
  const kills = 4;
  for (let k = 0; k < kills; k++) {
    await sleep(600 + Math.random() * 1200);
    await child.kill();
    await sleep(Math.random() * 200);
    child = await startChild();
  }
  await sleep(800);
  stop = true;
  await Promise.all(writers);

  // Every committed version reaches the receiver at least once.
  const key = (h: { resource: { id: string; meta?: { versionId?: string } } }) => `${h.resource.id}|${h.resource.meta?.versionId}`;
  const deadline = Date.now() + Math.max(5_000, 55_000 - (Date.now() - started));
  while (Date.now() < deadline) {
    const got = new Set(hooks.received.map(key));
    if ([...committed].every((c) => got.has(c))) break;
    await sleep(100);
  }
  const got = new Set(hooks.received.map(key));
  const missing = [...committed].filter((c) => !got.has(c));
  // The receiver's effect is applied once per resource version (its idempotency key).
  const effects = new Map<string, number>();
  for (const h of hooks.received) {
    const k = key(h);
    if (!effects.has(k)) effects.set(k, 0);
    effects.set(k, (effects.get(k) ?? 0) + (effects.get(k) === 0 ? 1 : 0));
  }
  const redeliveries = hooks.received.length - got.size;
  console.log(
    `crash test: ${kills} SIGKILLs, ${committed.size} committed writes, ${hooks.received.length} deliveries (${redeliveries} redeliveries), ${failures} failed client requests, ${Date.now() - started} ms`,
  );
  expect(committed.size).toBeGreaterThan(50);
  expect(missing).toEqual([]);
  expect([...effects.values()].every((n) => n === 1)).toBe(true);
  expect(effects.size).toBe(got.size);
});
