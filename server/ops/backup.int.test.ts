// Backup and restore: back up a live server's database, write more, restore into a fresh database,
// and compare — in both formats (pg_dump custom format and the native one) — then run a server on
// the restored database.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createScratchDatabase } from '../../test/database.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { backup, findPgTool, formatOf, serverMajor } from './backup.ts';

const run = promisify(execFile);
let t: TestServer;
let dir: string;
const drops: (() => Promise<void>)[] = [];

/** Row counts of every table and a digest of every resource version: equal means same data. */
async function snapshot(url: string): Promise<Record<string, string | number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows: tables } = await c.query<{ s: string; n: string }>(
      `SELECT table_schema AS s, table_name AS n FROM information_schema.tables
       WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
    );
    const out: Record<string, string | number> = {};
    for (const { s, n } of tables) {
      // Audit records move from their batches into the resource tables in the background.
      if (n === 'audit_log' || n === 'audit_rest_log' || n === 'audit_record_batch' || n === 'trace_context') continue;
      const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${s}"."${n}"`);
      out[`${s}.${n}`] = rows[0].n;
    }
    const { rows } = await c.query<{ d: string }>(
      `SELECT md5(string_agg(version_id::text || coalesce(content, ''), ',' ORDER BY version_id)) AS d FROM resource_history`,
    );
    out.historyDigest = rows[0].d;
    const { rows: seq } = await c.query<{ m: string }>('SELECT max(seq)::text AS m FROM subscription_delivery');
    out.maxDeliverySeq = seq[0].m ?? 'none';
    return out;
  } finally {
    await c.end();
  }
}

/** Lets the server index the audit events it has recorded, so the data stands still for a snapshot. */
async function settle(): Promise<void> {
  await t.server.app.repoContext.auditReady?.();
}

async function patient(family: string): Promise<Patient & { id: string }> {
  return (await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family }] })) as Patient & { id: string };
}

const env = (url: string) => ({ ...process.env, DATABASE_URL: url });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'es-backup-'));
  t = await startTestServer({}, { keepDatabase: true });
  drops.push(() => t.dropDatabase());
  for (let i = 0; i < 30; i++) await patient(`Backup${i}`);
});

afterAll(async () => {
  await t?.close();
  for (const d of drops) await d().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('backup and restore', () => {
  test('npm run backup / restore (pg_dump when a compatible one exists): restored data equals the backup, later writes absent', async () => {
    const file = join(dir, 'cli.backup');
    await settle();
    const before = await snapshot(t.databaseUrl);
    const out = await run(process.execPath, ['scripts/backup.ts', file], { env: env(t.databaseUrl) });
    expect(out.stdout).toMatch(/Backed up the DATABASE_URL database/);
    const expected = (await findPgTool('pg_dump', await serverMajor(t.databaseUrl))) ? 'pg_dump' : 'native';
    expect(await formatOf(file)).toBe(expected);
    // More writes after the backup.
    const later = await patient('AfterBackup');
    expect(await snapshot(t.databaseUrl)).not.toEqual(before);

    const target = await createScratchDatabase(inject('adminDatabaseUrl'), 'es_restore');
    drops.push(target.drop);
    const restored = await run(process.execPath, ['scripts/restore.ts', file], { env: env(target.url) });
    expect(restored.stdout).toMatch(/Restored/);
    expect(await snapshot(target.url)).toEqual(before);
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    const { rows } = await c.query(`SELECT 1 FROM resource WHERE resource_type = 'Patient' AND id = $1`, [later.id]);
    await c.end();
    expect(rows).toEqual([]);

    // A second restore into a database that now holds data is refused without --force.
    await expect(run(process.execPath, ['scripts/restore.ts', file], { env: env(target.url) })).rejects.toMatchObject({
      stderr: expect.stringContaining('already holds data'),
    });
  });

  test('native format: restore, compare, and a server runs on the restored database', async () => {
    const file = join(dir, 'native.backup');
    await settle();
    const before = await snapshot(t.databaseUrl);
    const result = await backup(t.databaseUrl, file, { format: 'native' });
    expect(result).toMatchObject({ format: 'native' });
    expect(result.rows).toBeGreaterThan(30);
    const later = await patient('AfterNativeBackup');

    const target = await createScratchDatabase(inject('adminDatabaseUrl'), 'es_restore');
    drops.push(target.drop);
    await run(process.execPath, ['scripts/restore.ts', file], { env: env(target.url) });
    expect(await snapshot(target.url)).toEqual(before);

    // The restored database serves: same admin client, old data readable, new writes work (sequences moved on).
    const restored = await startTestServer({}, { databaseUrl: target.url, clientSecret: t.admin.clientSecret });
    try {
      const found = await restored.medplum.searchResources('Patient', { name: 'Backup1', _count: '50' });
      expect(found.length).toBeGreaterThan(0);
      await expect(restored.medplum.readResource('Patient', later.id)).rejects.toThrow();
      const created = await restored.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'AfterRestore' }] });
      expect(created.id).toBeTruthy();
    } finally {
      await restored.close();
    }
  });
});
