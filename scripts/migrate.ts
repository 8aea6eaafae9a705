// `npm run migrate`: applies the server's schema migrations (and the HL7 bridge store's) to
// DATABASE_URL, then exits. The Kubernetes migration Job and docker-compose's `migrate` service run
// this once per release, before the new server version takes traffic.
import pino from 'pino';
import { migrate } from '../server/db/migrate.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  process.stderr.write('Set DATABASE_URL to the database to migrate\n');
  process.exit(2);
}
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'emergisphere-migrate' } });
try {
  await migrate(databaseUrl, logger);
  const { migrateStore } = (await import('../hl7-bridge/store/migrate.ts')) as { migrateStore(url: string): Promise<void> };
  await migrateStore(process.env.HL7_DATABASE_URL || databaseUrl);
  logger.info('migrations applied');
} catch (err) {
  logger.error({ err: err instanceof Error ? err.message : String(err) }, 'migration failed');
  process.exit(1);
}
