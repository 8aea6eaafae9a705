import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies the bridge's own migrations (schema `hl7`, table `hl7.migrations`), independent of the
 * server's. node-pg-migrate's advisory lock makes concurrent starts safe.
 */
export async function migrateStore(databaseUrl: string): Promise<void> {
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsSchema: 'hl7',
    createMigrationsSchema: true,
    migrationsTable: 'migrations',
    checkOrder: true,
    log: () => undefined,
    verbose: false,
  });
}
