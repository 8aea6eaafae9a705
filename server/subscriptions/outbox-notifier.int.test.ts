import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEvent, Bot, Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { PostgresRepository } from '../fhir/repo.ts';
import { OUTBOX_CHANNEL } from './engine.ts';
import { OutboxNotifier } from './outbox-notifier.ts';

// Ordinary writes leave their outbox row without a NOTIFY in their transaction (PostgreSQL
// serializes the commits of notifying transactions); the repository wakes the workers after the
// commit instead. These pin down when it does, and that cache-invalidating types still NOTIFY.

let t: TestServer;
let listener: pg.Client;
const payloads: string[] = [];

beforeAll(async () => {
  t = await startTestServer();
  listener = new pg.Client({ connectionString: t.databaseUrl });
  await listener.connect();
  listener.on('notification', (msg) => {
    if (msg.channel === OUTBOX_CHANNEL) payloads.push(msg.payload ?? '');
  });
  await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
});
afterAll(async () => {
  await listener?.end();
  await t?.close();
});

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function spyRepo(): { repo: PostgresRepository; calls: () => number } {
  let n = 0;
  const repo = new PostgresRepository({
    ...t.server.app.repoContext,
    outboxWakeup: {
      written: () => {
        n++;
      },
    },
  });
  return { repo, calls: () => n };
}

const patient = (family: string): Patient => ({ resourceType: 'Patient', name: [{ family }] });

describe('outbox wake-up', () => {
  test('an ordinary write does not NOTIFY in its transaction; a Bot write still names itself', async () => {
    const { repo, calls } = spyRepo();
    payloads.length = 0;
    await repo.createResource(patient('Quiet'));
    expect(calls()).toBe(1);
    const bot = await repo.createResource<Bot>({ resourceType: 'Bot', name: 'wakeup-marker' });
    // Notifications arrive in commit order: once the Bot's is here, the Patient's would have been.
    await waitFor(() => payloads.includes(`Bot/${bot.id}`), 'the Bot NOTIFY');
    expect(payloads).not.toContain('Patient');
    expect(calls()).toBe(2);
  });

  test('without a wake-up in the context every write NOTIFYs at its commit', async () => {
    const repo = new PostgresRepository({ ...t.server.app.repoContext, outboxWakeup: undefined });
    payloads.length = 0;
    await repo.createResource(patient('Loud'));
    await waitFor(() => payloads.includes('Patient'), 'the Patient NOTIFY');
  });

  test('a transaction wakes once, after its commit; a rolled-back one and AuditEvents do not', async () => {
    const { repo, calls } = spyRepo();
    let duringTransaction = -1;
    await repo.withTransaction(async (tx) => {
      await tx.createResource(patient('One'));
      const two = await tx.createResource(patient('Two'));
      await tx.updateResource({ ...two, active: true });
      duringTransaction = calls();
    });
    expect(duringTransaction).toBe(0);
    expect(calls()).toBe(1);

    await expect(
      repo.withTransaction(async (tx) => {
        await tx.createResource(patient('Gone'));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(calls()).toBe(1);

    const event: AuditEvent = {
      resourceType: 'AuditEvent',
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100' },
      recorded: new Date().toISOString(),
      source: { observer: { display: 'test' } },
      agent: [{ requestor: true, who: { display: 'test' } }],
    };
    await repo.createResource(event);
    expect(calls()).toBe(1);
  });
});

describe('OutboxNotifier', () => {
  test('with no dispatcher here, wakes the other instances with coalesced NOTIFYs', async () => {
    const notifier = new OutboxNotifier({ databaseUrl: t.databaseUrl, logger: pino({ level: 'silent' }), channel: OUTBOX_CHANNEL });
    let local = 0;
    // The waker of an instance whose subscription workers are off: it will not dispatch.
    notifier.onWritten(() => {
      local++;
      return false;
    });
    payloads.length = 0;
    for (let i = 0; i < 200; i++) notifier.written();
    await notifier.close();
    expect(local).toBe(200);
    // The first NOTIFY goes out at once; the other 199 commits arrive while it is in flight.
    expect(notifier.sent).toBeGreaterThanOrEqual(1);
    expect(notifier.sent).toBeLessThanOrEqual(2);
    await waitFor(() => payloads.filter((p) => p === '').length >= notifier.sent, 'the NOTIFYs');
  });

  test('when this instance dispatches the rows itself, no NOTIFY goes out', async () => {
    const notifier = new OutboxNotifier({ databaseUrl: t.databaseUrl, logger: pino({ level: 'silent' }), channel: OUTBOX_CHANNEL });
    let local = 0;
    notifier.onWritten(() => {
      local++;
      return true;
    });
    for (let i = 0; i < 20; i++) notifier.written();
    await notifier.close();
    expect(local).toBe(20);
    expect(notifier.sent).toBe(0);
  });

  test("wakes in its own async context, not the writing request's", async () => {
    const notifier = new OutboxNotifier({ databaseUrl: t.databaseUrl, logger: pino({ level: 'silent' }), channel: OUTBOX_CHANNEL });
    const request = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    notifier.onWritten(() => {
      seen.push(request.getStore());
      return true;
    });
    request.run('request-1', () => notifier.written());
    await notifier.close();
    // A dispatch loop started in the request's context would carry its trace into later deliveries.
    expect(seen).toEqual([undefined]);
  });
});
