import { MedplumClient } from '@medplum/core';
import type { Logger } from 'pino';
import { runningServer } from '../server/db/runtime-file.ts';
import { type RunningBridge, startBridge } from './bridge.ts';
import { DEFAULT_CHANNELS_FILE, loadChannels } from './config.ts';

export interface BridgeRuntimeOptions {
  /** The FHIR server, e.g. http://localhost:8103/ */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  databaseUrl: string;
  logger: Logger;
  env?: Record<string, string | undefined>;
}

/**
 * The bridge's database: HL7_DATABASE_URL, else DATABASE_URL, else the embedded PostgreSQL of a
 * running `npm start` (named in data/runtime.json next to EMERGISPHERE_DATA_DIR).
 */
export function resolveDatabaseUrl(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.HL7_DATABASE_URL) return env.HL7_DATABASE_URL;
  if (env.DATABASE_URL) return env.DATABASE_URL;
  return runningServer(env.EMERGISPHERE_DATA_DIR ?? './data/postgres')?.databaseUrl;
}

/**
 * Signs in as the bridge's client and starts the bridge with server-config/hl7/channels.json
 * (or HL7_CHANNELS). Used by `npm run hl7` and by `npm start`.
 */
export async function runBridge(options: BridgeRuntimeOptions): Promise<RunningBridge> {
  const env = options.env ?? process.env;
  const channels = loadChannels(env.HL7_CHANNELS ?? DEFAULT_CHANNELS_FILE, env);
  const medplum = new MedplumClient({ baseUrl: options.baseUrl, cacheTime: 0 });
  // MedplumClient signs in again with these credentials whenever its token runs out.
  await medplum.startClientLogin(options.clientId, options.clientSecret);
  const workers = env.HL7_CONVERSION_WORKERS !== undefined ? Number(env.HL7_CONVERSION_WORKERS) : undefined;
  return startBridge({
    channels,
    databaseUrl: options.databaseUrl,
    medplum,
    logger: options.logger,
    ownProfile: `ClientApplication/${options.clientId}`,
    ...(workers !== undefined && Number.isInteger(workers) ? { conversionWorkers: workers } : {}),
  });
}
