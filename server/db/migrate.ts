import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from 'pino';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies pending schema migrations. node-pg-migrate takes a PostgreSQL advisory lock, so two
 * instances starting at once apply each migration exactly once; already-applied ones are skipped.
 */
export async function migrate(databaseUrl: string, logger?: Logger): Promise<void> {
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'schema_migrations',
    checkOrder: true,
    log: (msg: string) => logger?.debug({ migration: msg }, 'migration'),
    logger: undefined,
    verbose: false,
  });
}
