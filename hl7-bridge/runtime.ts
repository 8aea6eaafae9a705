import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MedplumClient } from '@medplum/core';
import type { Logger } from 'pino';
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bridge's database: HL7_DATABASE_URL, else DATABASE_URL, else the embedded PostgreSQL of a
 * running `npm start` (named in data/runtime.json next to EMERGISPHERE_DATA_DIR).
 */
export function resolveDatabaseUrl(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.HL7_DATABASE_URL) return env.HL7_DATABASE_URL;
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const runtimeFile = resolve(dirname(env.EMERGISPHERE_DATA_DIR ?? './data/postgres'), 'runtime.json');
  if (!existsSync(runtimeFile)) return undefined;
  const runtime = JSON.parse(readFileSync(runtimeFile, 'utf8')) as { databaseUrl?: string; pid?: number };
  return runtime.pid && isAlive(runtime.pid) ? runtime.databaseUrl : undefined;
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
