// The set-up most server benchmarks share: a scratch database (dropped on cleanup), the first-start
// admin client, our server as a child process, a signed-in MedplumClient, and optionally bots.
import { MedplumClient } from '@medplum/core';
import { deployBots } from '../../deploy-bots.ts';
import { accessToken, type BenchCredentials, credentialsFor, serverEnv } from './auth.ts';
import { onCleanup } from './cleanup.ts';
import { setBenchDatabase } from './cpu.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName } from './pg.ts';
import { REPO_ROOT, type ServerProcess, startServerProcess } from './server-process.ts';

export interface BenchServerOptions {
  /** Scratch database name prefix, e.g. 'es_bench_booking'. */
  prefix: string;
  /** Server environment on top of the admin client and lifted rate limits. */
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** Count the scratch database's PostgreSQL backends in CPU measurements (lib/cpu.ts). */
  measureCpu?: boolean;
  /** Bots (medplum.config.json names) to deploy once the server is up. */
  bots?: string[];
}

export interface BenchServer {
  dbName: string;
  dbUrl: string;
  creds: BenchCredentials;
  server: ServerProcess;
  /** The admin client's bearer token (undefined when the server has no token endpoint). */
  token: string | undefined;
  /** Signed in as the admin client; no cache, so every read reaches the server. */
  medplum: MedplumClient;
}

/** Starts a benchmark server on a fresh scratch database; everything is undone by the registered cleanups. */
export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const dbName = scratchName(options.prefix);
  const dbUrl = await createDatabase(ADMIN_URL, dbName);
  if (options.measureCpu) setBenchDatabase(dbName);
  onCleanup(`drop database ${dbName}`, () => dropDatabase(ADMIN_URL, dbName));
  const creds = await credentialsFor(dbUrl);
  const server = await startServerProcess({ databaseUrl: dbUrl, env: { ...serverEnv(creds), ...options.env }, nodeArgs: options.nodeArgs });
  onCleanup('stop server', () => server.stop().then(() => undefined));
  const token = await accessToken(server.url, creds);
  const medplum = new MedplumClient({ baseUrl: server.url, cacheTime: 0 });
  if (token) medplum.setAccessToken(token);
  if (options.bots) await deployBots(medplum, { rootDir: REPO_ROOT, only: options.bots });
  return { dbName, dbUrl, creds, server, token, medplum };
}
