import type { AuditEvent, Bot } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withCron = { subscriptions: { cron: true } };

/** Records each run's input type; cron runs get the Bot itself, like Medplum. */
const CODE = `exports.handler = async function (medplum, event) {
  console.log('run with ' + event.input.resourceType + ' at ' + event.headers['X-EmergiSphere-Cron-Tick']);
  return event.input.resourceType;
};`;

describe('cron bots on two instances', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer(withCron, { keepDatabase: true });
    b = await startTestServer(withCron, { databaseUrl: a.databaseUrl, keepDatabase: true, clientSecret: a.admin.clientSecret });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await a?.dropDatabase();
  });

  async function runs(botId: string): Promise<AuditEvent[]> {
    const events = await a.medplum.searchResources('AuditEvent', { entity: `Bot/${botId}`, _count: '200' }, { cache: 'no-cache' });
    return events.filter((e) => e.type?.code === 'execute' && e.agent?.some((g) => g.who?.display?.startsWith('cron ')));
  }

  test('a cronString runs the bot once per tick across instances, each run audited; removing it stops the runs', async () => {
    const bot = await a.medplum.createResource<Bot>({ resourceType: 'Bot', name: 'every-second', runtimeVersion: 'vmcontext' });
    await a.medplum.post(a.medplum.fhirUrl('Bot', bot.id as string, '$deploy'), { code: CODE, filename: 'index.js' });
    const current = await a.medplum.readResource('Bot', bot.id as string);
    // Written on instance b: instance a hears of it through the outbox notification.
    await b.medplum.updateResource<Bot>({ ...current, cronString: '* * * * * *' });
    await sleep(4_500);
    let events = await runs(bot.id as string);
    const ticks = events.map((e) => e.agent?.find((g) => g.who?.display?.startsWith('cron '))?.who?.display);
    expect(events.length).toBeGreaterThanOrEqual(3);
    // Both instances planned every tick; each tick ran once.
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(events.every((e) => e.outcome === '0' && e.outcomeDesc?.includes('run with Bot'))).toBe(true);
    const db = new pg.Client({ connectionString: a.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ owners: number }>(
        'SELECT count(DISTINCT owner)::int AS owners FROM bot_cron_run WHERE bot_id = $1',
        [bot.id],
      );
      expect(rows[0].owners).toBeGreaterThanOrEqual(1);
    } finally {
      await db.end();
    }

    const latest = await a.medplum.readResource('Bot', bot.id as string);
    const { cronString: _c, ...rest } = latest;
    await a.medplum.updateResource<Bot>(rest as Bot);
    await sleep(1_500);
    events = await runs(bot.id as string);
    const count = events.length;
    await sleep(2_000);
    expect((await runs(bot.id as string)).length).toBe(count);
  });

  test('cronTiming schedules too; an invalid schedule is not run', async () => {
    const timed = await a.medplum.createResource<Bot>({
      resourceType: 'Bot',
      name: 'timed',
      runtimeVersion: 'vmcontext',
      cronTiming: { repeat: { period: 1, periodUnit: 's' } },
    });
    const broken = await a.medplum.createResource<Bot>({
      resourceType: 'Bot',
      name: 'broken',
      runtimeVersion: 'vmcontext',
      cronString: 'nope',
    });
    for (const id of [timed.id, broken.id]) {
      await a.medplum.post(a.medplum.fhirUrl('Bot', id as string, '$deploy'), { code: CODE, filename: 'index.js' });
    }
    await sleep(3_000);
    expect((await runs(timed.id as string)).length).toBeGreaterThanOrEqual(1);
    expect(await runs(broken.id as string)).toHaveLength(0);
    expect(a.server.cron?.schedules().get(timed.id as string)).toEqual(['* * * * * *']);
  });
});
