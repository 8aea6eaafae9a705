// Observability through the real server: readiness, agent health, Prometheus metrics, one trace
// from an HTTP write through the outbox to a bot and the bot's own FHIR calls, and logs without PHI.
import { Writable } from 'node:stream';
import type { Bot, OperationOutcome, Patient, Subscription } from '@medplum/fhirtypes';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { waitFor } from '../../test/workflow-agents.ts';
import { createLogger } from './logging.ts';
import { Tracing } from './tracing.ts';

// Distinctive identifiers that must never reach a log line.
const PHI = {
  family: 'Zyxwquarth',
  given: 'Ottoline',
  phone: '+1-555-867-5309',
  ssn: '987-65-4329',
};

let t: TestServer;
const lines: string[] = [];
const exporter = new InMemorySpanExporter();
const registry = new Registry();

/** The bot reads the patient it was sent, writes an Observation about it, and logs the name (to its own console). */
const OBSERVE_BOT = `exports.handler = async function (medplum, event) {
  const patient = await medplum.readResource('Patient', event.input.id);
  console.log('patient', JSON.stringify(patient.name));
  await medplum.createResource({ resourceType: 'Observation', status: 'final', code: { text: 'ops test' },
    subject: { reference: 'Patient/' + patient.id }, valueString: 'seen' });
  return { ok: true };
};`;
/** Fails with the patient's name in its error message, as careless bot code might. */
const FAILING_BOT = `exports.handler = async function (medplum, event) {
  throw new Error('cannot handle ' + event.input.name[0].family + ' ' + event.input.telecom[0].value);
};`;

async function deployBot(name: string, code: string): Promise<Bot & { id: string }> {
  const projectId = t.server.bootstrap.project.id;
  // A role that may read Patients and write Observations.
  const policy = await t.medplum.searchOne('AccessPolicy', { _tag: 'https://emergisphere.dev/fhir/role|ed-physician' });
  const bot = (await t.medplum.post(`admin/projects/${projectId}/bot`, {
    name,
    description: 'ops test',
    accessPolicy: { reference: `AccessPolicy/${policy?.id}` },
  })) as Bot & { id: string };
  const outcome = (await t.medplum.post(t.medplum.fhirUrl('Bot', bot.id, '$deploy'), { code, filename: 'index.js' })) as OperationOutcome;
  expect(outcome.issue?.[0]?.code).toBe('informational');
  return bot;
}

async function subscribe(bot: Bot & { id: string }, criteria: string): Promise<void> {
  await t.medplum.createResource<Subscription>({
    resourceType: 'Subscription',
    status: 'active',
    reason: 'ops test',
    criteria,
    channel: { type: 'rest-hook', endpoint: `Bot/${bot.id}` },
    extension: [{ url: 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts', valueInteger: 1 }],
  });
}

let observer: Bot & { id: string };
let failing: Bot & { id: string };
let patient: Patient & { id: string };

beforeAll(async () => {
  const tracing = new Tracing({ exporter, simple: true });
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  t = await startTestServer(
    { logLevel: 'debug', subscriptions: { backoffBaseMs: 20, pollIntervalMs: 100 } },
    { start: { logger: createLogger({ level: 'debug', tracing, destination }), metricsRegistry: registry, tracing } },
  );
  observer = await deployBot('ops-observer', OBSERVE_BOT);
  failing = await deployBot('ops-failing', FAILING_BOT);
  await subscribe(observer, 'Patient?identifier=http://hl7.org/fhir/sid/us-ssn|');
  await subscribe(failing, 'Patient?name=Zyxwquarth');
  exporter.reset();
  patient = (await t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: PHI.family, given: [PHI.given] }],
    telecom: [{ system: 'phone', value: PHI.phone }],
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: PHI.ssn }],
  })) as Patient & { id: string };
  // The observer bot's Observation shows its delivery ran to the end.
  if (process.env.OPS_DEBUG)
    setTimeout(async () => {
      const res = await fetch(`${t.baseUrl}admin/subscriptions/dead-letters`, { headers: { authorization: t.authorization } });
      console.log(await res.text());
    }, 8000);
  await waitFor(
    async () => (await t.medplum.searchOne('Observation', { subject: `Patient/${patient.id}` })) ?? undefined,
    20_000,
    'bot Observation',
  );
  // And the failing bot's delivery is dead-lettered (one attempt).
  await waitFor(
    async () => {
      const res = await fetch(`${t.baseUrl}admin/subscriptions/dead-letters`, { headers: { authorization: t.authorization } });
      const body = (await res.json()) as { deadLetters: unknown[] };
      return body.deadLetters.length > 0 ? true : undefined;
    },
    20_000,
    'dead letter',
  );
});

afterAll(async () => {
  await t?.close();
});

describe('health', () => {
  test('liveness and readiness are open; readiness names every check', async () => {
    expect((await fetch(`${t.baseUrl}healthcheck`)).status).toBe(200);
    const res = await fetch(`${t.baseUrl}health/ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean }> };
    expect(body.ready).toBe(true);
    expect(Object.keys(body.checks).sort()).toEqual(['bots', 'database', 'migrations', 'redis', 'subscriptions']);
    expect(Object.values(body.checks).every((c) => c.ok)).toBe(true);
  });

  test('readiness fails with 503 and says why when a migration is missing', async () => {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      await client.query(`UPDATE schema_migrations SET name = 'renamed-for-test' WHERE name = '0008_trace_context'`);
      const res = await fetch(`${t.baseUrl}health/ready`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { ready: boolean; checks: { migrations: { ok: boolean; detail: { pending: string[] } } } };
      expect(body.ready).toBe(false);
      expect(body.checks.migrations.detail.pending).toEqual(['0008_trace_context']);
    } finally {
      await client.query(`UPDATE schema_migrations SET name = '0008_trace_context' WHERE name = 'renamed-for-test'`);
      await client.end();
    }
  });

  test('agent health: admins only; per bot deployment, executions, success rate, p95, backlog and dead letters', async () => {
    expect((await fetch(`${t.baseUrl}health/agents`)).status).toBe(401);
    const res = await fetch(`${t.baseUrl}health/agents`, { headers: { authorization: t.authorization } });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { agents: Record<string, unknown>[] };
    const ok = report.agents.find((a) => a.bot === `Bot/${observer.id}`);
    const bad = report.agents.find((a) => a.bot === `Bot/${failing.id}`);
    expect(ok).toMatchObject({
      name: 'ops-observer',
      deployed: { code: expect.stringMatching(/^Binary\//) },
      lastExecution: { outcome: 'success' },
      lastHour: { executions: 1, failures: 0, successRate: 1, truncated: false },
      subscriptions: { active: 1, backlog: 0, deadLetters: 0 },
    });
    expect((ok as { lastHour: { p95DurationMs: number } }).lastHour.p95DurationMs).toBeGreaterThan(0);
    expect(bad).toMatchObject({
      lastExecution: { outcome: 'failure' },
      lastHour: { executions: 1, failures: 1, successRate: 0 },
      subscriptions: { active: 1, backlog: 0, deadLetters: 1 },
    });
  });
});

describe('metrics', () => {
  test('/metrics exposes HTTP, FHIR, pool, outbox, delivery, bot, websocket and HL7 metrics from the registry passed in', async () => {
    await fetch(`${t.fhirUrl}Patient/does-not-exist`, { headers: { authorization: t.authorization } });
    const res = await fetch(`${t.baseUrl}metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    // The very registry passed to startServer holds them (no global default registry).
    expect(registry.getSingleMetric('emergisphere_http_requests_total')).toBeDefined();
    expect(text).toMatch(/emergisphere_http_requests_total\{method="POST",route="\/fhir\/R4\/\*",status="201"\} \d+/);
    expect(text).toMatch(/emergisphere_fhir_operations_total\{interaction="create",resource_type="Patient",status="201"\} 1/);
    expect(text).toMatch(/emergisphere_fhir_operations_total\{interaction="read",resource_type="Patient",status="404"\} 1/);
    expect(text).toMatch(new RegExp(`emergisphere_bot_executions_total\\{bot="Bot/${observer.id}",outcome="success"\\} 1`));
    expect(text).toMatch(new RegExp(`emergisphere_bot_executions_total\\{bot="Bot/${failing.id}",outcome="failure"\\} 1`));
    expect(text).toMatch(/emergisphere_subscription_delivery_attempts_total\{channel="bot",outcome="delivered"\} \d+/);
    expect(text).toMatch(/emergisphere_subscription_delivery_attempts_total\{channel="bot",outcome="dead"\} 1/);
    expect(text).toMatch(/emergisphere_subscription_deliveries\{status="dead"\} 1/);
    expect(text).toMatch(/emergisphere_subscription_outbox_depth \d+/);
    expect(text).toMatch(/emergisphere_db_pool_connections\{state="total"\} \d+/);
    expect(text).toMatch(/emergisphere_websocket_connections 0/);
    expect(text).toContain('# TYPE emergisphere_hl7_messages gauge');
    // Labels carry route templates and resource types only, never ids or search values.
    expect(text).not.toContain(patient.id);
    expect(text).not.toContain('does-not-exist');
  });
});

describe('tracing', () => {
  test('one trace: the HTTP create, the bot execution its subscription caused, and the bot’s own FHIR calls', async () => {
    const spans = exporter.getFinishedSpans();
    const create = spans.find((s) => s.name === 'create Patient');
    expect(create).toBeDefined();
    const traceId = create?.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const bot = inTrace.find((s) => s.name === `bot execute Bot/${observer.id}`);
    expect(bot).toBeDefined();
    expect(bot?.parentSpanContext?.spanId).toBe(create?.spanContext().spanId);
    const read = inTrace.find((s) => s.name === 'read Patient');
    const write = inTrace.find((s) => s.name === 'create Observation');
    expect(read?.parentSpanContext?.spanId).toBe(bot?.spanContext().spanId);
    expect(write?.parentSpanContext?.spanId).toBe(bot?.spanContext().spanId);
  });
});

describe('logs', () => {
  test('structured JSON with request and trace ids, and no PHI after writes, searches, errors and bot runs', async () => {
    const h = { authorization: t.authorization, 'content-type': 'application/fhir+json' };
    // Errors that echo the patient's data back to the caller.
    await fetch(`${t.fhirUrl}Patient`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: PHI.family }], birthDate: `${PHI.ssn}-not-a-date` }),
    });
    await fetch(`${t.fhirUrl}Patient?name=${PHI.family}&telecom=${encodeURIComponent(PHI.phone)}`, { headers: h });
    await fetch(`${t.fhirUrl}Patient?identifier=${PHI.ssn}&unknown-param=${PHI.given}`, { headers: { ...h, prefer: 'handling=strict' } });
    await fetch(`${t.fhirUrl}Patient/${patient.id}`, {
      method: 'PUT',
      headers: { ...h, 'if-match': 'W/"nope"' },
      body: JSON.stringify(patient),
    });
    await fetch(`${t.fhirUrl}Patient`, { method: 'POST', headers: h, body: `{"resourceType":"Patient","name":[{"family":"${PHI.family}"` });
    await fetch(`${t.baseUrl}auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `${PHI.given}@example.org`, password: PHI.ssn }),
    });
    await t.medplum.executeBot(failing.id, patient, 'application/fhir+json').catch(() => undefined);
    await t.medplum.executeBot(observer.id, patient, 'application/fhir+json');

    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(20);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = parsed.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.every((l) => typeof l.reqId === 'string' && typeof l.traceId === 'string')).toBe(true);
    // The failed delivery was logged, with its message censored.
    expect(parsed.some((l) => l.msg === 'subscription delivery failed' && l.error === '[redacted]')).toBe(true);
    for (const value of [PHI.family, PHI.given, PHI.phone, PHI.ssn, encodeURIComponent(PHI.phone)]) {
      expect(all).not.toContain(value);
    }
  });

  test('X-Request-Id is kept as the request id', async () => {
    await fetch(`${t.fhirUrl}Patient/${patient.id}`, { headers: { authorization: t.authorization, 'x-request-id': 'ops-test-req-42' } });
    expect(lines.some((l) => l.includes('"reqId":"ops-test-req-42"'))).toBe(true);
  });
});
