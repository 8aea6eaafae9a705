import type pg from 'pg';
import type { Logger } from 'pino';
import type { ServerConfig } from '../../server/config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../server/db/embedded.ts';
import { migrate } from '../../server/db/migrate.ts';
import { createPool } from '../../server/db/pool.ts';
import { runningServer } from '../../server/db/runtime-file.ts';

export interface CliDatabase {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * The database an operator command works on: DATABASE_URL, else the embedded PostgreSQL of a
 * running `npm start` (data/runtime.json), else the embedded PostgreSQL started here. Migrated.
 */
export async function openCliDatabase(config: ServerConfig, logger: Logger): Promise<CliDatabase> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl ?? runningServer(config.dataDir)?.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
    url = embedded.url;
  }
  const pool = createPool(url, 2);
  try {
    await migrate(url, logger);
  } catch (err) {
    await pool.end();
    await embedded?.stop();
    throw err;
  }
  return {
    url,
    pool,
    close: async () => {
      await pool.end();
      await embedded?.stop();
    },
  };
}

/** Ends an operator command with a usage or input error (exit code 2). */
export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}
