// `npm run hl7`: the HL7 bridge on its own, against any EmergiSphere or Medplum server.
//   MEDPLUM_BASE_URL=http://localhost:8103/ MEDPLUM_CLIENT_ID=… MEDPLUM_CLIENT_SECRET=… npm run hl7
// Database: HL7_DATABASE_URL, DATABASE_URL, or the embedded one of a running `npm start`.
// Channels: server-config/hl7/channels.json (HL7_CHANNELS), HL7_PORT, HL7_API_PORT.
import pino from 'pino';
import { ConfigError } from './config.ts';
import { resolveDatabaseUrl, runBridge } from './runtime.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'emergisphere-hl7' } });
const clientId = process.env.MEDPLUM_CLIENT_ID;
const clientSecret = process.env.MEDPLUM_CLIENT_SECRET;
const databaseUrl = resolveDatabaseUrl();
if (!clientId || !clientSecret) {
  process.stderr.write(
    'Set MEDPLUM_CLIENT_ID and MEDPLUM_CLIENT_SECRET (a client with the hl7-bridge role; MEDPLUM_BASE_URL defaults to http://localhost:8103/)\n',
  );
  process.exit(2);
}
if (!databaseUrl) {
  process.stderr.write('No database: set HL7_DATABASE_URL (or DATABASE_URL), or start the server with `npm start` first\n');
  process.exit(2);
}

try {
  const bridge = await runBridge({
    baseUrl: process.env.MEDPLUM_BASE_URL ?? 'http://localhost:8103/',
    clientId,
    clientSecret,
    databaseUrl,
    logger,
  });
  process.stdout.write(
    `\n  EmergiSphere HL7 bridge\n${Object.entries(bridge.ports)
      .map(([name, port]) => `    MLLP channel ${name}: port ${port}\n`)
      .join('')}    API: ${bridge.apiUrl}hl7/\n\n`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'HL7 bridge shutting down');
    await bridge.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (err) {
  process.stderr.write(
    `HL7 bridge failed to start: ${err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
}
