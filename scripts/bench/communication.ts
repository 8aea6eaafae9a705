// Communication bot benchmark: CommunicationRequest created → Communication committed and pushed.
//
//   node scripts/bench/communication.ts            (npm run bench:communication)
//
// Starts `node server/index.ts` as a child process on a fresh scratch database, deploys the
// communication bot with deploy-bots, an on-call team of one physician on shift, and a rest-hook
// Subscription on Communication to a receiver in this process (the same delivery path as the app's
// websocket). Then, for each phase, sends stat pages to the team at BENCH_RATE/s (default 100) for
// BENCH_DURATION s (default 10) and measures, per request:
//   - request sent → in-app Communication received (committed by the bot, pushed by the server);
//   - request sent → Communication `completed` received (phase B: after Twilio and SendGrid answered
//     and the outcome was written back);
// and the CPU the server and PostgreSQL spent per request.
//   A. no vendor keys: in-app only (channels not-configured);
//   B. Twilio and SendGrid keys pointing at local fakes of their APIs (official SDKs); skipped with
//      the reason when the server's bot runtime cannot load the SDKs.
//
// Environment: BENCH_RATE, BENCH_DURATION, BENCH_DRAIN (seconds to wait for the backlog, default 120),
// BENCH_ADMIN_URL (see lib/pg.ts). CPU per request counts everything until the backlog is done.
import { resolve } from 'node:path';
import { MedplumClient } from '@medplum/core';
import type { CareTeam, Communication, CommunicationRequest, Practitioner, Project } from '@medplum/fhirtypes';
import { startFakeSendGrid } from '../../test/fakes/sendgrid.ts';
import { startFakeTwilio } from '../../test/fakes/twilio.ts';
import { vendorSecrets } from '../../test/fakes/vendor-secrets.ts';
import { type ReceivedHook, startHookReceiver } from '../../test/hook-receiver.ts';
import { deployBots } from '../deploy-bots.ts';
import { accessToken, credentialsFor, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { cpuBetween, cpuSnapshot, fmtCpu, setBenchDatabase, waitForQuiet, waitServerSettled } from './lib/cpu.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { startServerProcess } from './lib/server-process.ts';
import { type Cell, type Check, fmtMs, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const RATE = num(process.env.BENCH_RATE, 100);
const DURATION = num(process.env.BENCH_DURATION, 10);
/** How long to wait for the backlog after the last request. */
const DRAIN_S = num(process.env.BENCH_DRAIN, 120);
/** The budget for the whole device path (Observation → staff Communication pushed); this hop is part of it. */
const TARGET_P99_MS = 250;
const CATEGORY_SYSTEM = 'https://emergisphere.dev/fhir/CodeSystem/communication-category';
const ROOT = resolve(import.meta.dirname, '../..');
const ACCOUNT = `AC${'4'.repeat(32)}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const comm = (h: ReceivedHook) => h.resource as unknown as Communication;

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : Number.NaN;
}

interface PhaseResult {
  name: string;
  sent: number;
  inApp: number[];
  completed: number[];
  cpuMsPerRequest: { server: number; postgres: number };
  cpu: ReturnType<typeof cpuBetween>;
}

async function main(): Promise<void> {
  const name = scratchName('es_bench_comm');
  const dbUrl = await createDatabase(ADMIN_URL, name);
  setBenchDatabase(name);
  onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));
  const creds = await credentialsFor(dbUrl);
  const server = await startServerProcess({ databaseUrl: dbUrl, env: { ...serverEnv(creds), GRAPHQL_WARMUP: 'false' } });
  onCleanup('stop server', () => server.stop().then(() => undefined));
  log(`server healthy in ${server.startToHealthyMs.toFixed(0)} ms`);
  const medplum = new MedplumClient({ baseUrl: server.url, cacheTime: 0 });
  medplum.setAccessToken((await accessToken(server.url, creds)) as string);

  const receiver = await startHookReceiver();
  const [twilio, sendgrid] = await Promise.all([
    startFakeTwilio({ accountSid: ACCOUNT, authToken: 'bench' }),
    startFakeSendGrid({ apiKey: 'SG.bench' }),
  ]);
  onCleanup('close fakes', () => Promise.all([receiver.close(), twilio.close(), sendgrid.close()]).then(() => undefined));

  const [bot] = await deployBots(medplum, { rootDir: ROOT, only: ['communication'] });
  const doctor = await medplum.createResource<Practitioner>({
    resourceType: 'Practitioner',
    name: [{ family: 'Bench' }],
    telecom: [
      { system: 'sms', value: '+15550009999' },
      { system: 'email', value: 'bench@h.example' },
    ],
  });
  const team = await medplum.createResource<CareTeam>({
    resourceType: 'CareTeam',
    participant: [
      { member: { reference: `Practitioner/${doctor.id}` }, period: { start: new Date(Date.now() - 3_600_000).toISOString() } },
    ],
  });
  await medplum.createResource({
    resourceType: 'Subscription',
    status: 'active',
    reason: 'bench: Communications as the app sees them',
    criteria: 'Communication',
    channel: { type: 'rest-hook', endpoint: receiver.url, payload: 'application/fhir+json' },
  });

  const page = (marker: string, to: string[] = [`CareTeam/${team.id}`]): CommunicationRequest => ({
    resourceType: 'CommunicationRequest',
    status: 'active',
    priority: 'stat',
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'page' }] }],
    identifier: [{ system: 'urn:bench', value: marker }],
    reasonCode: [{ text: 'NEWS2 9' }],
    payload: [{ contentString: 'Bed 4: SpO2 84%, RR 30' }],
    recipient: to.map((reference) => ({ reference })),
  });

  /** Warms every bot worker up (bundle instantiated, SDKs loaded), then writes pages at RATE/s; returns the CPU snapshot taken at the start. */
  async function pacedPages(label: string, to: string[] | undefined, sent?: (ref: string, startedAt: number) => void) {
    for (let i = 0; i < 20; i++) await medplum.createResource(page(`warm-${label}-${i}`, to));
    await sleep(2000);
    await waitForQuiet(server.pid, 30);
    receiver.received.length = 0;
    log(`${label}: ${RATE} stat pages/s for ${DURATION} s`);
    const before = cpuSnapshot(server.pid);
    const t0 = performance.now();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < RATE * DURATION; i++) {
      const wait = t0 + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      const started = performance.now();
      writes.push(medplum.createResource(page(`${label}-${i}`, to)).then((cr) => sent?.(`CommunicationRequest/${cr.id}`, started)));
    }
    await Promise.all(writes);
    return before;
  }

  const perRequest = (before: ReturnType<typeof cpuSnapshot>, after: ReturnType<typeof cpuSnapshot>) => {
    const cpu = cpuBetween(before, after);
    const ms = (pctOfCore: number) => (pctOfCore * 10 * ((after.at - before.at) / 1000)) / (RATE * DURATION);
    return { cpu, server: ms(cpu.server), postgres: ms(cpu.postgres) };
  };

  // 0. The fixed cost of a request and a bot run that writes nothing (a page with no recipients).
  async function baseline(): Promise<{ server: number; postgres: number }> {
    const before = await pacedPages('0 no recipients', []);
    // No Communication to wait for: the bot runs are over once the server is idle again.
    await waitServerSettled(server.pid, DRAIN_S, 2, 10);
    return perRequest(before, cpuSnapshot(server.pid));
  }

  async function phase(phaseName: string, external: boolean): Promise<PhaseResult> {
    const sentAt = new Map<string, number>();
    const total = RATE * DURATION;
    const before = await pacedPages(phaseName, undefined, (ref, at) => sentAt.set(ref, at));
    const isDone = (c: Communication) => c.status === 'completed';
    const arrived = (done: boolean) =>
      new Set(receiver.received.filter((h) => !done || isDone(comm(h))).map((h) => comm(h).basedOn?.[0]?.reference));
    // Wait for the whole backlog (so the CPU measured is all the work, and the next phase starts clean).
    const end = performance.now() + DRAIN_S * 1000;
    while (performance.now() < end && [...sentAt.keys()].some((r) => !arrived(external).has(r))) await sleep(50);
    const after = cpuSnapshot(server.pid);
    const first = new Map<string, number>();
    const done = new Map<string, number>();
    for (const h of receiver.received) {
      const c = comm(h);
      const ref = c.basedOn?.[0]?.reference ?? '';
      if (!first.has(ref)) first.set(ref, h.receivedAt);
      if (isDone(c) && !done.has(ref)) done.set(ref, h.receivedAt);
    }
    const lat = (m: Map<string, number>) =>
      [...sentAt].flatMap(([ref, s]) => (m.has(ref) ? [(m.get(ref) as number) - s] : [])).sort((a, b) => a - b);
    const { cpu, server: serverMs, postgres } = perRequest(before, after);
    return { name: phaseName, sent: total, inApp: lat(first), completed: lat(done), cpu, cpuMsPerRequest: { server: serverMs, postgres } };
  }

  const fixed = await baseline();
  const results: PhaseResult[] = [await phase('A in-app only', false)];
  const project = await medplum.readResource('Project', ((await medplum.get('auth/me')) as { project: { id: string } }).project.id);
  await medplum.updateResource<Project>({ ...project, secret: vendorSecrets(twilio, sendgrid) });
  await sleep(2500); // the bot runtime caches project secrets for 2 s
  const check = (await medplum.executeBot(bot.id, { action: 'check-channels' }, 'application/json')) as Record<
    string,
    { status: string; error?: string }
  >;
  const problem = Object.values(check).find((c) => c.status !== 'ready');
  if (problem) {
    log(`phase B skipped: ${problem.error ?? problem.status}`);
  } else {
    results.push(await phase('B SMS + email (fakes)', true));
    log(`fakes received ${twilio.messages.length} SMS and ${sendgrid.emails.length} emails`);
  }

  const row = (r: PhaseResult, what: string, xs: number[]): Cell[] => [
    r.name,
    what,
    `${xs.length}/${r.sent}`,
    fmtMs(pct(xs, 50)),
    fmtMs(pct(xs, 90)),
    fmtMs(pct(xs, 99)),
    fmtMs(xs.at(-1)),
  ];
  printTable(
    `CommunicationRequest → Communication (stat page to an on-call team, ${RATE}/s for ${DURATION} s)`,
    ['Phase', 'Measure', 'Received', 'p50', 'p90', 'p99', 'max'],
    results.flatMap((r) => [
      row(r, 'request sent → in-app Communication pushed', r.inApp),
      ...(r.name.startsWith('B') ? [row(r, 'request sent → completed (vendors answered)', r.completed)] : []),
    ]),
  );
  printTable(
    'CPU (percent of one core: server / PostgreSQL / load generator / other processes) and per request',
    ['Phase', 'CPU %', 'server ms/request', 'PostgreSQL ms/request'],
    [
      ['0 request + bot run, no recipients', '', fixed.server.toFixed(2), fixed.postgres.toFixed(2)],
      ...results.map((r) => [r.name, fmtCpu(r.cpu), r.cpuMsPerRequest.server.toFixed(2), r.cpuMsPerRequest.postgres.toFixed(2)]),
    ],
  );
  const checks: Check[] = results.map((r) => ({
    metric: `${r.name}: request → in-app Communication p99 @ ${RATE}/s`,
    target: `≤ ${TARGET_P99_MS} ms (whole device path)`,
    measured: fmtMs(pct(r.inApp, 99)),
    pass: r.inApp.length === r.sent && pct(r.inApp, 99) <= TARGET_P99_MS,
    note: r.inApp.length === r.sent ? 'one bot hop of the path' : `${r.sent - r.inApp.length} never arrived`,
  }));
  if (problem)
    checks.push({
      metric: 'B SMS + email',
      target: 'measured',
      measured: 'skipped',
      pass: undefined,
      note: problem.error ?? problem.status,
    });
  printChecks('Communication benchmark', checks);
}

runMain(main);
