import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { startEmbeddedPostgres } from '../../server/db/embedded.ts';

export interface DatabaseTarget {
  url: string;
  /** Where it came from, for messages. */
  source: 'DATABASE_URL' | 'running server' | 'embedded (started for this command)';
  /** The pid of a running `npm start` that uses it. */
  serverPid?: number;
  close(): Promise<void>;
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
 * The database operator commands work on: DATABASE_URL; else the embedded PostgreSQL of a running
 * `npm start` (data/runtime.json); else the embedded cluster in EMERGISPHERE_DATA_DIR, started for
 * the command and stopped after it.
 */
export async function databaseTarget(env: NodeJS.ProcessEnv = process.env): Promise<DatabaseTarget> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL', close: async () => undefined };
  const dataDir = env.EMERGISPHERE_DATA_DIR ?? './data/postgres';
  const runtimeFile = resolve(dirname(dataDir), 'runtime.json');
  if (existsSync(runtimeFile)) {
    const runtime = JSON.parse(readFileSync(runtimeFile, 'utf8')) as { databaseUrl?: string; pid?: number };
    if (runtime.databaseUrl && runtime.pid && isAlive(runtime.pid)) {
      return { url: runtime.databaseUrl, source: 'running server', serverPid: runtime.pid, close: async () => undefined };
    }
  }
  const embedded = await startEmbeddedPostgres({ dataDir });
  return { url: embedded.url, source: 'embedded (started for this command)', close: () => embedded.stop() };
}
