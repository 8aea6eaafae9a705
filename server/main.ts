// First, before anything allocates: the heap's start-up policy (server/heap.ts).
import './heap.ts';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ClientApplication, Project } from '@medplum/fhirtypes';
import { createClient, rotateClientSecret } from './auth/admin.ts';
import { deployOwnBots, seedHospital } from './bots/self-deploy.ts';
import { loadConfig } from './config.ts';
import { youngGenerationMayGrow } from './heap.ts';
import { missingNodeFlags } from './node-flags.ts';
import { idleGcFromEnv, startIdleGc } from './ops/idle-gc.ts';
import type { Hl7MetricsSource } from './ops/metrics.ts';
import { type RunningServer, startServer } from './server.ts';

const HL7_CLIENT_NAME = 'EmergiSphere HL7 bridge';

/**
 * The HL7 v2 bridge runs beside the server (its own component in hl7-bridge/, loaded dynamically
 * so server/ has no static dependency on it) and reaches it over HTTP as its own ClientApplication
 * (role hl7-bridge), whose secret is renewed at every start and kept in memory only. The bridge's
 * API URL becomes the project secret HL7_BRIDGE_URL, where the hl7-outbound bot finds it.
 */
async function startHl7Bridge(
  server: RunningServer,
): Promise<{ ports: Record<string, number>; apiUrl: string; metrics: Hl7MetricsSource; close(): Promise<void> } | undefined> {
  const runtime = resolve('hl7-bridge/runtime.ts');
  if (!existsSync(runtime)) return undefined;
  const repo = server.app.repo();
  const found = await repo.search<ClientApplication>({
    resourceType: 'ClientApplication',
    filters: [{ code: 'name', operator: 'eq', value: HL7_CLIENT_NAME }],
  });
  const existing = found.entry?.map((e) => e.resource).find((c) => c?.name === HL7_CLIENT_NAME);
  const credentials = existing
    ? { clientId: existing.id as string, clientSecret: await rotateClientSecret(repo, existing.id as string) }
    : await createClient(repo, server.bootstrap.project, { name: HL7_CLIENT_NAME, role: 'hl7-bridge' }).then((c) => ({
        clientId: c.client.id,
        clientSecret: c.secret,
      }));
  const { runBridge } = (await import(runtime)) as typeof import('../hl7-bridge/runtime.ts');
  const bridge = await runBridge({
    baseUrl: server.url,
    ...credentials,
    databaseUrl: server.databaseUrl,
    logger: server.logger.child({ component: 'hl7' }),
  });
  const project = await repo.readResource<Project>('Project', server.bootstrap.project.id);
  const secret = (project.secret ?? []).filter((s) => s.name !== 'HL7_BRIDGE_URL');
  await repo.updateResource<Project>({ ...project, secret: [...secret, { name: 'HL7_BRIDGE_URL', valueString: bridge.apiUrl }] });
  return bridge;
}

const config = loadConfig();
const server = await startServer(config);
const { logger, bootstrap } = server;
youngGenerationMayGrow();

// Collects V8's heap once when the process goes idle after work (server/ops/idle-gc.ts);
// IDLE_GC=false leaves it to V8. Started here, by the process entry, because the heap is the
// process's: tests that start several servers in one process leave it alone.
const idleGc = idleGcFromEnv(process.env);
const missingFlags = missingNodeFlags();
if (missingFlags.length > 0) {
  logger.info(
    { missing: missingFlags },
    'started without the recommended V8 flags: pauses between bursts cost the next burst its optimised code (server/node-flags.ts)',
  );
}
if (idleGc) {
  startIdleGc(
    idleGc,
    () => server.metrics.httpAnswered,
    (info) => {
      server.metrics.idleCollections.observe(info.ms / 1000);
      logger.debug({ ms: Math.round(info.ms), freedMb: Math.round(info.freedBytes / 1048576) }, 'idle: heap collected');
    },
  );
}

/** FLAG=true|false decides; unset, it is on for the embedded default (no DATABASE_URL) when `also`. */
function enabled(flag: string, also = true): boolean {
  const value = process.env[flag];
  return value === 'true' || (value !== 'false' && also && !config.databaseUrl);
}

// npm start on the embedded default runs the HL7 bridge too (HL7_BRIDGE=true|false overrides).
let hl7: Awaited<ReturnType<typeof startHl7Bridge>>;
let hl7Error: string | undefined;
if (enabled('HL7_BRIDGE')) {
  try {
    hl7 = await startHl7Bridge(server);
    const bridge = hl7;
    server.metrics.setHl7Source(() => bridge?.metrics);
  } catch (err) {
    hl7Error = err instanceof Error ? err.message : String(err);
    logger.warn({ err: hl7Error }, 'the HL7 bridge did not start');
  }
}
const hl7Lines = hl7
  ? [
      ...Object.entries(hl7.ports).map(([name, port]) => `  HL7 v2 (MLLP) ${name.padEnd(11)} port ${port}`),
      `  HL7 bridge API:           ${hl7.apiUrl}hl7/`,
    ]
  : hl7Error
    ? [`  HL7 bridge:               not started (${hl7Error.split('\n')[0]})`]
    : [];

logger.info({ url: server.url }, 'EmergiSphere is running');
const login = bootstrap.created
  ? [
      '  First start: an administrator and an API client were created.',
      `    email:         ${bootstrap.email}`,
      `    password:      ${bootstrap.generatedPassword ?? '(ADMIN_PASSWORD, as you set it)'}`,
      `    client id:     ${bootstrap.clientId}`,
      `    client secret: ${bootstrap.generatedClientSecret ?? '(ADMIN_CLIENT_SECRET, as you set it)'}`,
      '  Keep these: the password and the secret are not shown again.',
    ]
  : [
      `  Sign in as ${bootstrap.email} (password from the first start or ADMIN_PASSWORD),`,
      `  or use client ${bootstrap.clientId} with its secret (client_credentials).`,
    ];
process.stdout.write(
  [
    '',
    `  EmergiSphere FHIR server: ${server.url}`,
    `  FHIR base:                ${server.url}fhir/R4/`,
    `  Health:                   ${server.url}healthcheck`,
    ...hl7Lines,
    ...login,
    '',
    '',
  ].join('\n'),
);

// The embedded default deploys the project's own bots (DEPLOY_BOTS=true|false overrides).
const deploying = enabled('DEPLOY_BOTS')
  ? deployOwnBots(server).catch((err) => logger.warn({ err: err instanceof Error ? err.message : err }, 'deploying the bots failed'))
  : Promise.resolve();
// The embedded default's first start (an empty database) loads the demo hospital of seed/, after
// the bots, so their subscriptions see it as they would see a real one. A production database is
// never seeded unless asked (SEED=true); SEED=false skips it everywhere.
if (enabled('SEED', bootstrap.created)) {
  void deploying
    .then(() => seedHospital(server))
    .then((n) => n && logger.info(`seeded the demo hospital (${n} resources; npm run seed reloads it)`))
    .catch((err) => logger.warn({ err: err instanceof Error ? err.message : err }, 'seeding the hospital failed'));
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // A part that never finishes must not keep the process from stopping (orchestrators wait ~30 s).
  setTimeout(() => {
    logger.error('shutdown did not finish within 25 s; exiting');
    process.exit(1);
  }, 25_000).unref();
  try {
    await hl7?.close();
    await server.close();
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
