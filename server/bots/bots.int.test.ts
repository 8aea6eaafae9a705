import type { AuditEvent, Bot, OperationOutcome, ProjectMembership } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

async function http(path: string, init: { method?: string; body?: string; contentType?: string } = {}) {
  const res = await fetch(`${t.fhirUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: t.authorization, ...(init.contentType ? { 'content-type': init.contentType } : {}) },
    body: init.body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: json as Record<string, unknown> };
}

/** Creates a bot through Medplum's admin endpoint and deploys CommonJS `code` to it. */
async function botWith(code: string, extra: { role?: string; timeout?: number; identifier?: string } = {}): Promise<Bot & { id: string }> {
  const projectId = t.server.bootstrap.project.id;
  const accessPolicy = extra.role
    ? await t.medplum.searchOne('AccessPolicy', { _tag: `https://emergisphere.dev/fhir/role|${extra.role}` })
    : undefined;
  const bot = (await t.medplum.post(`admin/projects/${projectId}/bot`, {
    name: `test-bot-${Math.random().toString(36).slice(2)}`,
    description: 'test',
    ...(accessPolicy ? { accessPolicy: { reference: `AccessPolicy/${accessPolicy.id}` } } : {}),
    ...(extra.identifier ? { identifier: [{ system: 'https://example.org/bots', value: extra.identifier }] } : {}),
  })) as Bot & { id: string };
  if (extra.timeout) {
    await t.medplum.updateResource({ ...(await t.medplum.readResource('Bot', bot.id)), timeout: extra.timeout });
  }
  const outcome = (await t.medplum.post(t.medplum.fhirUrl('Bot', bot.id, '$deploy'), { code, filename: 'index.js' })) as OperationOutcome;
  expect(outcome.issue?.[0]?.code).toBe('informational');
  return t.medplum.readResource('Bot', bot.id) as Promise<Bot & { id: string }>;
}

const ECHO = `exports.handler = async function (medplum, event) {
  console.log('got', event.contentType);
  return { input: event.input, contentType: event.contentType, bot: event.bot, hasSecrets: typeof event.secrets === 'object', traceId: event.traceId };
};`;

describe('Bot $deploy and $execute', () => {
  test('admin endpoint creates the bot with its membership; $deploy stores the code as a Binary', async () => {
    const bot = await botWith(ECHO);
    expect(bot.executableCode).toMatchObject({ contentType: 'application/javascript', title: 'index.js' });
    expect(bot.executableCode?.url).toMatch(/^Binary\//);
    const membership = await t.medplum.searchOne('ProjectMembership', { user: `Bot/${bot.id}` });
    expect((membership as ProjectMembership).profile?.reference).toBe(`Bot/${bot.id}`);
    const code = await fetch(`${t.fhirUrl}${bot.executableCode?.url}`, { headers: { authorization: t.authorization } });
    expect(await code.text()).toBe(ECHO);
  });

  test('JSON, FHIR JSON, text, HL7 and GET inputs; replies keep their content type', async () => {
    const bot = await botWith(ECHO);
    const json = await http(`Bot/${bot.id}/$execute`, { body: JSON.stringify({ a: 1 }), contentType: 'application/json' });
    expect(json.status).toBe(200);
    expect(json.json).toMatchObject({
      input: { a: 1 },
      contentType: 'application/json',
      bot: { reference: `Bot/${bot.id}` },
      hasSecrets: true,
    });
    expect(json.json.traceId).toBeTruthy();

    const patient = { resourceType: 'Patient', name: [{ family: 'Doe' }] };
    const fhir = await t.medplum.executeBot(bot.id, patient, 'application/fhir+json');
    expect(fhir).toMatchObject({ input: patient, contentType: 'application/fhir+json' });

    const get = await http(`Bot/${bot.id}/$execute?x=1&y=two`);
    expect(get.json).toMatchObject({ input: { x: '1', y: 'two' } });

    const textBot = await botWith(`exports.handler = async (m, e) => 'echo:' + e.input.toUpperCase();`);
    const text = await http(`Bot/${textBot.id}/$execute`, { body: 'hello', contentType: 'text/plain' });
    expect(text.status).toBe(200);
    expect(text.type).toMatch(/^text\/plain/);
    expect(text.text).toBe('echo:HELLO');

    const hl7Bot = await botWith(`exports.handler = async (m, e) => {
      const msg = e.input;
      if (!(msg instanceof Hl7Message)) throw new Error('not an Hl7Message');
      return msg.buildAck();
    };`);
    const adt = 'MSH|^~\\&|EHR|HOSP|ES|ED|202601011200||ADT^A04|MSG001|P|2.5\rPID|1||12345^^^HOSP^MR||DOE^JOHN';
    const hl7 = await http(`Bot/${hl7Bot.id}/$execute`, { body: adt, contentType: 'x-application/hl7-v2+er7' });
    expect(hl7.status).toBe(200);
    expect(hl7.type).toMatch(/^x-application\/hl7-v2\+er7/);
    expect(hl7.text).toMatch(/^MSH\|/);
    expect(hl7.text).toContain('MSA|AA|MSG001');
  });

  test('undefined return → allOk; Bot/$execute?identifier=', async () => {
    await botWith('exports.handler = async () => undefined;', { identifier: 'quiet-bot' });
    const res = await http('Bot/$execute?identifier=https://example.org/bots|quiet-bot', { body: '{}', contentType: 'application/json' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
    const missing = await http('Bot/$execute?identifier=https://example.org/bots|nope', { body: '{}', contentType: 'application/json' });
    expect(missing.status).toBe(404);
  });

  test('a throwing bot answers an error outcome with its message; the log lands in the AuditEvent', async () => {
    const bot = await botWith(
      `exports.handler = async () => { console.log('about to fail', 42); throw new Error('bad input: no encounter'); };`,
    );
    const res = await http(`Bot/${bot.id}/$execute`, { body: '{}', contentType: 'application/json' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.json)).toContain('bad input: no encounter');
    const events = await t.medplum.searchResources('AuditEvent', { entity: `Bot/${bot.id}`, _count: '10' }, { cache: 'no-cache' });
    const audit = events.find((e: AuditEvent) => e.type?.code === 'execute');
    expect(audit).toBeDefined();
    expect(audit?.outcome).toBe('4');
    expect(audit?.outcomeDesc).toContain('about to fail 42');
    expect(audit?.outcomeDesc).toContain('bad input: no encounter');
    expect(audit?.entity?.[0]?.detail?.find((d) => d.type === 'durationMs')).toBeDefined();
  });

  test('successful executions are audited with outcome 0 and the captured console (bounded)', async () => {
    const bot = await botWith(
      `exports.handler = async () => { for (let i = 0; i < 5000; i++) console.log('line', i, 'x'.repeat(20)); return 'ok'; };`,
    );
    const res = await http(`Bot/${bot.id}/$execute`, { body: 'x', contentType: 'text/plain' });
    expect(res.text).toBe('ok');
    const events = await t.medplum.searchResources('AuditEvent', { entity: `Bot/${bot.id}` }, { cache: 'no-cache' });
    const audit = events.find((e: AuditEvent) => e.type?.code === 'execute');
    expect(audit?.outcome).toBe('0');
    expect(audit?.outcomeDesc?.length).toBeLessThanOrEqual(10 * 1024);
    expect(audit?.outcomeDesc).toContain('line 4999');
  });

  test("the bot's MedplumClient acts with the bot's own (restricted) policy", async () => {
    const claim = await t.medplum.createResource({
      resourceType: 'Claim',
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'institutional' }] },
      use: 'claim',
      patient: { reference: 'Patient/x' },
      created: '2026-01-01',
      provider: { display: 'ED' },
      priority: { coding: [{ code: 'normal' }] },
      insurance: [{ sequence: 1, focal: true, coverage: { display: 'none' } }],
    });
    const bot = await botWith(
      `exports.handler = async (medplum, event) => {
        const obs = await medplum.createResource({ resourceType: 'Observation', status: 'final', code: { text: 'esi' } });
        let claimStatus = 'read';
        try { await medplum.readResource('Claim', event.input.claimId); } catch (err) { claimStatus = String(err.outcome?.issue?.[0]?.code ?? err.message); }
        const me = await medplum.get('auth/me').catch(() => undefined);
        return { observation: obs.id, claimStatus, profile: me?.profile?.id };
      };`,
      { role: 'triage-bot' },
    );
    const res = (await t.medplum.executeBot(bot.id, { claimId: claim.id }, 'application/json')) as Record<string, string>;
    expect(res.observation).toBeTruthy();
    expect(res.claimStatus).toBe('forbidden');
    // The token was minted for the bot's own membership (AuthService.tokenForMembership).
    expect(res.profile).toBe(bot.id);
    const obs = await t.medplum.readResource('Observation', res.observation);
    expect(obs.code?.text).toBe('esi');
  });

  test('a bot created with a plain FHIR POST gets a membership (granting nothing) at first execution', async () => {
    const bot = await t.medplum.createResource<Bot>({ resourceType: 'Bot', name: 'plain' });
    await t.medplum.post(t.medplum.fhirUrl('Bot', bot.id as string, '$deploy'), {
      code: `exports.handler = async (medplum) => { try { await medplum.searchResources('Patient'); return 'read'; } catch (e) { return 'denied'; } };`,
    });
    const res = await http(`Bot/${bot.id}/$execute`, { body: 'go', contentType: 'text/plain' });
    expect(res.text).toBe('denied');
    expect(await t.medplum.searchOne('ProjectMembership', { user: `Bot/${bot.id}` })).toBeDefined();
  });
});

describe('sandbox limits', () => {
  test('a runaway bot is killed at its timeout and the next execution works', async () => {
    const bot = await botWith(`exports.handler = async (m, e) => { if (e.input === 'loop') { while (true) {} } return 'alive'; };`, {
      timeout: 1,
    });
    const started = Date.now();
    const res = await http(`Bot/${bot.id}/$execute`, { body: 'loop', contentType: 'text/plain' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.json)).toContain('timed out');
    expect(Date.now() - started).toBeLessThan(5_000);
    const after = await http(`Bot/${bot.id}/$execute`, { body: 'again', contentType: 'text/plain' });
    expect(after.text).toBe('alive');
  });

  test('process.exit in a bot ends only its worker', async () => {
    const plain = await botWith('exports.handler = async () => { process.exit(1); };');
    const res1 = await http(`Bot/${plain.id}/$execute`, { body: '{}', contentType: 'application/json' });
    expect(res1.status).toBe(400);
    // The bot's `process` (sandbox-modules.ts) has no exit, kill or chdir.
    expect(JSON.stringify(res1.json)).toContain('process.exit is not a function');
    // Escaping the vm context reaches the worker's process object, not the server's.
    const escaping = await botWith(`exports.handler = async () => { const p = console.log.constructor('return process')(); p.exit(3); };`);
    const res2 = await http(`Bot/${escaping.id}/$execute`, { body: '{}', contentType: 'application/json' });
    expect(res2.status).toBe(400);
    expect(JSON.stringify(res2.json)).toContain('exit code 3');
    const env = await botWith(`exports.handler = async () => Object.keys(console.log.constructor('return process')().env).length;`);
    expect((await http(`Bot/${env.id}/$execute`, { body: '{}', contentType: 'application/json' })).text).toBe('0');
    const health = await fetch(`${t.baseUrl}healthcheck`);
    expect(health.status).toBe(200);
    const { bots } = (await health.json()) as { bots: { workers: number; replaced: number } };
    expect(bots.replaced).toBeGreaterThan(0);
    expect(bots.workers).toBeGreaterThan(0);
  });

  test('a bot allocating without bound is stopped by its memory limit; the server goes on', async () => {
    const bot = await botWith(
      `exports.handler = async () => { const a = []; while (true) a.push(new Array(10000).fill({ x: Math.random() })); };`,
      {
        timeout: 30,
      },
    );
    const res = await http(`Bot/${bot.id}/$execute`, { body: '{}', contentType: 'application/json' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.json)).toContain('memory limit');
    expect((await fetch(`${t.baseUrl}healthcheck`)).status).toBe(200);
    const echo = await botWith(ECHO);
    expect(await t.medplum.executeBot(echo.id, { ok: 1 }, 'application/json')).toMatchObject({ input: { ok: 1 } });
  }, 60_000);

  test('other bots keep running while one loops', async () => {
    // Ordering, not timing: the echoes must all answer while the looping bot still holds its
    // worker (its 10 s timeout has not ended it), i.e. they did not queue behind it.
    const looping = await botWith('exports.handler = async () => { while (true) {} };', { timeout: 10 });
    const echo = await botWith(ECHO);
    let loopEnded = false;
    const loop = http(`Bot/${looping.id}/$execute`, { body: '{}', contentType: 'application/json' }).finally(() => {
      loopEnded = true;
    });
    for (let i = 0; i < 5; i++) {
      expect(await t.medplum.executeBot(echo.id, { i }, 'application/json')).toMatchObject({ input: { i } });
    }
    expect(loopEnded).toBe(false);
    expect((await loop).status).toBe(400);
  });

  test('BotExecutor interface (as the subscription engine calls it)', async () => {
    const bot = await botWith(
      `exports.handler = async (m, e) => ({ got: e.input.resourceType, h: e.headers?.['x-medplum-subscription'] });`,
    );
    const result = await t.server.app.bots.execute({
      botId: bot.id,
      input: { resourceType: 'Encounter', status: 'arrived' },
      contentType: 'application/fhir+json',
      headers: { 'x-medplum-subscription': 'Subscription/1' },
    });
    expect(result).toMatchObject({ ok: true, status: 200, returnValue: { got: 'Encounter', h: 'Subscription/1' } });
    expect(result.durationMs).toBeGreaterThan(0);
    const missing = await t.server.app.bots.execute({ botId: 'nope', input: {}, contentType: 'application/json' });
    expect(missing).toMatchObject({ ok: false, status: 404 });
  });

  test('200 sequential executions of one bot each answer their own input (BotExecutor and HTTP $execute)', async () => {
    // A reused worker must not leak one execution's input or result into the next. Latency is
    // measured by `npm run bench:subscriptions`, not here.
    const bot = await botWith('exports.handler = async (m, e) => e.input;');
    for (let i = 0; i < 200; i++) {
      const result = await t.server.app.bots.execute({ botId: bot.id, input: `ping ${i}`, contentType: 'text/plain' });
      expect(result.returnValue).toBe(`ping ${i}`);
    }
    for (let i = 0; i < 200; i++) {
      const res = await fetch(`${t.fhirUrl}Bot/${bot.id}/$execute`, {
        method: 'POST',
        headers: { authorization: t.authorization, 'content-type': 'text/plain' },
        body: `ping ${i}`,
      });
      expect(await res.text()).toBe(`ping ${i}`);
    }
  }, 60_000);
});
