import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch, issueTexts } from '../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

/**
 * Genuine internal failures (the database refusing for reasons that are not the request's
 * values, the database being unreachable) are 500s that reveal nothing; client mistakes never are.
 */

let t: TestServer;
let db: pg.Client;
beforeAll(async () => {
  t = await startTestServer();
  db = new pg.Client({ connectionString: t.databaseUrl });
  await db.connect();
  // A test-only fault: writing a Patient named "Explode" fails inside PostgreSQL.
  await db.query(`CREATE FUNCTION explode() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'secret internal detail'; END $$`);
  await db.query(`CREATE TRIGGER explode BEFORE INSERT OR UPDATE ON resource FOR EACH ROW
    WHEN (NEW.content LIKE '%"family":"Explode"%') EXECUTE FUNCTION explode()`);
});
afterAll(async () => {
  await db?.end();
  await t?.close();
});

function expectInternal(res: { status: number; body: OperationOutcome; text: string }): void {
  expect(res.status).toBe(500);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue?.[0]?.code).toBe('exception');
  expect(res.text).not.toMatch(/secret internal detail|ECONNREFUSED|\.ts:\d+|node_modules/);
}

const explode = { resourceType: 'Patient', name: [{ family: 'Explode' }] };

describe('internal failures are 500 without internals', () => {
  test('a failing write', async () => {
    expectInternal(await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient', { body: explode }));
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    expectInternal(await fhirFetch<OperationOutcome>(t.fhirUrl, 'PUT', `Patient/${p.id}`, { body: { ...explode, id: p.id } }));
    expectInternal(
      await fhirFetch<OperationOutcome>(t.fhirUrl, 'PATCH', `Patient/${p.id}`, {
        raw: JSON.stringify([{ op: 'add', path: '/name', value: [{ family: 'Explode' }] }]),
        headers: { 'content-type': 'application/json-patch+json' },
      }),
    );
    expect((await t.medplum.readResource('Patient', p.id as string)).name).toBeUndefined();
  });

  test('in a transaction: 500 and nothing left behind', async () => {
    const system = `urn:err:${crypto.randomUUID()}`;
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', identifier: [{ system, value: '1' }] } },
          { request: { method: 'POST', url: 'Patient' }, resource: { ...explode, identifier: [{ system, value: '2' }] } },
        ],
      },
    });
    expectInternal(res);
    expect(await t.medplum.searchResources('Patient', `identifier=${system}|`)).toHaveLength(0);
  });

  test('in a batch: that entry is a 500, the others succeed', async () => {
    const result = await fhirFetch<Bundle>(t.fhirUrl, 'POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'POST', url: 'Patient' }, resource: explode },
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', gender: 'bogus' } },
        ],
      },
    });
    expect(result.status).toBe(200);
    expect(result.body.entry?.map((e) => e.response?.status)).toEqual(['500', '201', '400']);
    expect(result.text).not.toMatch(/secret internal detail/);
  });

  test('database unreachable: healthcheck 503, requests 500, and recovery afterwards', async () => {
    const pool = t.server.app.repoContext.pool as pg.Pool & { options: { connectionString?: string } };
    const original = pool.options.connectionString;
    const unreachable = new URL(original as string);
    unreachable.port = '1';
    pool.options.connectionString = unreachable.toString();
    try {
      // Cut the pooled connections, so the next queries must open new ones, which fail.
      await db.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      await new Promise((r) => setTimeout(r, 200));
      const health = await fetch(`${t.baseUrl}healthcheck`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, postgres: false });
      expectInternal(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/${crypto.randomUUID()}`));
      expectInternal(await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient', { body: { resourceType: 'Patient' } }));
      expectInternal(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient?name=x'));
      expectInternal(
        await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '', {
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [{ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } }],
          },
        }),
      );
    } finally {
      pool.options.connectionString = original;
    }
    expect((await fetch(`${t.baseUrl}healthcheck`)).status).toBe(200);
    expect((await fhirFetch(t.fhirUrl, 'POST', 'Patient', { body: { resourceType: 'Patient' } })).status).toBe(201);
  });
});

describe('client mistakes are never 500', () => {
  test('values PostgreSQL would reject are 400', async () => {
    // Valid FHIR but outside what timestamptz can hold.
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient', birthDate: '0001-01-01' },
    });
    expect(res.status).toBeLessThan(500);
    const huge = await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient/_history?_offset=999999999');
    expect(huge.status).toBe(400);
    expect(issueTexts(huge.body).join()).toMatch(/_offset/);
  });
});
