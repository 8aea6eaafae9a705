import { deployOwnBots } from './bots/self-deploy.ts';
import { loadConfig } from './config.ts';
import { startServer } from './server.ts';

const config = loadConfig();
const server = await startServer(config);
const { logger, bootstrap } = server;

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
    ...login,
    '',
    '',
  ].join('\n'),
);

// The embedded default deploys the project's own bots (DEPLOY_BOTS=true|false overrides).
if (process.env.DEPLOY_BOTS === 'true' || (process.env.DEPLOY_BOTS !== 'false' && !config.databaseUrl)) {
  deployOwnBots(server).catch((err) => logger.warn({ err: err instanceof Error ? err.message : err }, 'deploying the bots failed'));
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  try {
    await server.close();
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
