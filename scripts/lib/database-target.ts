import { startEmbeddedPostgres } from '../../server/db/embedded.ts';
import { runningServer } from '../../server/db/runtime-file.ts';

export interface DatabaseTarget {
  url: string;
  /** Where it came from, for messages. */
  source: 'DATABASE_URL' | 'running server' | 'embedded (started for this command)';
  /** The pid of a running `npm start` that uses it. */
  serverPid?: number;
  close(): Promise<void>;
}

/**
 * The database operator commands work on: DATABASE_URL; else the embedded PostgreSQL of a running
 * `npm start` (data/runtime.json); else the embedded cluster in EMERGISPHERE_DATA_DIR, started for
 * the command and stopped after it.
 */
export async function databaseTarget(env: NodeJS.ProcessEnv = process.env): Promise<DatabaseTarget> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL', close: async () => undefined };
  const dataDir = env.EMERGISPHERE_DATA_DIR ?? './data/postgres';
  const running = runningServer(dataDir);
  if (running) {
    return { url: running.databaseUrl, source: 'running server', serverPid: running.pid, close: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres({ dataDir });
  return { url: embedded.url, source: 'embedded (started for this command)', close: () => embedded.stop() };
}
