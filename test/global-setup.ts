import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../server/db/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
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
    embedded = await startEmbeddedPostgres({ dataDir: dir, ephemeral: true });
    url = embedded.url;
  }
  project.provide('adminDatabaseUrl', url);
  return async () => {
    await embedded?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
