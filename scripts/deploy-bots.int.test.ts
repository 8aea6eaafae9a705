import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Bot, Communication, Patient, ProjectMembership, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployOwnBots } from '../server/bots/self-deploy.ts';
import { startTestServer, type TestServer } from '../test/server.ts';
import { BOT_IDENTIFIER_SYSTEM, deployBots, readBotConfig } from './deploy-bots.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

describe('npm run deploy:bots', () => {
  test('bundles, creates the Bot with its role, deploys, upserts Subscriptions; a second run changes nothing', async () => {
    const first = await deployBots(t.medplum, { rootDir: ROOT, only: ['hello'] });
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ name: 'hello', created: true, subscriptions: { created: 1 } });
    const bot = await t.medplum.readResource('Bot', first[0].id);
    expect(bot.identifier).toContainEqual({ system: BOT_IDENTIFIER_SYSTEM, value: 'hello' });
    expect(bot.executableCode?.url).toMatch(/^Binary\//);
    const membership = (await t.medplum.searchOne('ProjectMembership', { user: `Bot/${bot.id}` })) as ProjectMembership;
    const policy = await t.medplum.readReference(membership.accessPolicy as NonNullable<ProjectMembership['accessPolicy']>);
    expect(policy.meta?.tag).toContainEqual(expect.objectContaining({ code: 'communication-bot' }));
    const subs = await t.medplum.searchResources('Subscription', { url: `Bot/${bot.id}` }, { cache: 'no-cache' });
    expect(subs).toHaveLength(1);
    expect((subs[0] as Subscription).channel.endpoint).toBe(`Bot/${bot.id}`);

    const second = await deployBots(t.medplum, { rootDir: ROOT, only: ['hello'] });
    expect(second[0]).toMatchObject({ id: bot.id, created: false, subscriptions: { created: 0, updated: 0, unchanged: 1, deleted: 0 } });

    // The deployed bundle runs, with the bot's own policy (communication-bot may write Communications).
    expect(await t.medplum.executeBot(bot.id as string, 'Ada', 'text/plain')).toBe('Hello, Ada!');
    const patient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Grace'], family: 'Hopper' }] });
    expect(await t.medplum.executeBot(bot.id as string, patient, 'application/fhir+json')).toBe('Hello, Grace Hopper!');
    const sent = await t.medplum.searchResources('Communication', { subject: `Patient/${patient.id}` }, { cache: 'no-cache' });
    expect((sent[0] as Communication).payload?.[0]?.contentString).toBe('Hello, Grace Hopper!');
  }, 60_000);
});

describe('schedules and timeouts from medplum.config.json', () => {
  test('cronString and timeout are set on the Bot, left alone when unchanged, removed when dropped from the config', async () => {
    const hello = readBotConfig(ROOT).find((b) => b.name === 'hello');
    const config = { ...(hello as NonNullable<typeof hello>), name: 'hello-cron', cronString: '*/5 * * * *', timeout: 42 };
    const [first] = await deployBots(t.medplum, { rootDir: ROOT, bots: [config] });
    const bot = await t.medplum.readResource('Bot', first.id);
    expect(bot).toMatchObject({ cronString: '*/5 * * * *', timeout: 42 });
    // A second run writes only the $deploy's new code version, no settings update.
    const versions = async () => (await t.medplum.readHistory('Bot', first.id, { count: 100 })).entry?.length ?? 0;
    const before = await versions();
    await deployBots(t.medplum, { rootDir: ROOT, bots: [config] });
    expect(await versions()).toBe(before + 1);
    const { cronString: _c, timeout: _t, ...plain } = config;
    await deployBots(t.medplum, { rootDir: ROOT, bots: [plain] });
    const after = await t.medplum.readResource('Bot', first.id);
    expect(after.cronString).toBeUndefined();
    expect(after.timeout).toBeUndefined();
    await expect(deployBots(t.medplum, { rootDir: ROOT, bots: [{ ...plain, timeout: -1 }] })).rejects.toThrow(/timeout/);
  }, 60_000);

  test("the escalation sweep and the device sweep run on the project's schedule", () => {
    const bots = new Map(readBotConfig(ROOT).map((b) => [b.name, b]));
    expect(bots.get('communication')?.cronString).toBe('* * * * *');
    // Every minute: the sweep also checks the trends that normal readings (which do not run the bot) can end.
    expect(bots.get('smart-device')?.cronString).toBe('* * * * *');
  });
});

describe('npm start', () => {
  test("deploys the project's own bots in-process, over HTTP, as the admin client", async () => {
    expect(await deployOwnBots(t.server, ROOT)).toBe(readBotConfig(ROOT).length);
    const bots = await t.medplum.searchResources('Bot', { identifier: `${BOT_IDENTIFIER_SYSTEM}|hello` }, { cache: 'no-cache' });
    expect(bots).toHaveLength(1);
  }, 60_000);

  test('through its Subscription: a Patient tagged for the demo is greeted', async () => {
    const patient = await t.medplum.createResource<Patient>({
      resourceType: 'Patient',
      meta: { tag: [{ system: 'https://emergisphere.dev/fhir/demo', code: 'hello' }] },
      name: [{ given: ['Katherine'], family: 'Johnson' }],
    });
    let sent: Communication[] = [];
    for (let i = 0; i < 100 && sent.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      sent = await t.medplum.searchResources('Communication', { subject: `Patient/${patient.id}` }, { cache: 'no-cache' });
    }
    expect(sent[0]?.payload?.[0]?.contentString).toBe('Hello, Katherine Johnson!');
  }, 30_000);
});

describe('the official Medplum CLI', () => {
  test('`medplum bot deploy <name>` deploys new code to our server', async () => {
    const projectId = t.server.bootstrap.project.id;
    const bot = (await t.medplum.post(`admin/projects/${projectId}/bot`, { name: 'cli-bot', description: '' })) as Bot & { id: string };
    const dir = mkdtempSync(join(tmpdir(), 'medplum-cli-'));
    try {
      writeFileSync(
        join(dir, 'medplum.config.json'),
        JSON.stringify({ bots: [{ name: 'cli-bot', id: bot.id, source: 'src.ts', dist: 'dist.js' }] }),
      );
      writeFileSync(join(dir, 'src.ts'), "export async function handler(): Promise<string> { return 'from the CLI'; }\n");
      writeFileSync(join(dir, 'dist.js'), "exports.handler = async () => 'from the CLI';\n");
      const cli = resolve(ROOT, 'node_modules/@medplum/cli/dist/cjs/index.cjs');
      const { stdout } = await run(process.execPath, [cli, 'bot', 'deploy', 'cli-bot'], {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          MEDPLUM_BASE_URL: t.baseUrl,
          MEDPLUM_CLIENT_ID: t.admin.clientId,
          MEDPLUM_CLIENT_SECRET: t.admin.clientSecret,
        },
        timeout: 30_000,
      });
      expect(stdout).toContain('Deploy result: All OK');
      const after = await t.medplum.readResource('Bot', bot.id);
      expect(after.executableCode?.url).toMatch(/^Binary\//);
      expect(after.sourceCode?.url).toBeTruthy();
      expect(await t.medplum.executeBot(bot.id, {}, 'application/json')).toBe('from the CLI');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
