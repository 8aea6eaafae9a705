import { OperationOutcomeError, Operator } from '@medplum/core';
import type { Flag, Patient, Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

// Creates inside a database transaction are written together before the transaction's next
// statement or its commit (deferred-creates.ts); these pin down what that must not change.

let t: TestServer;
let db: pg.Pool;
beforeAll(async () => {
  t = await startTestServer();
  db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
});
afterAll(async () => {
  await db?.end();
  await t?.close();
});

function patient(system: string, value: string, id?: string): Patient {
  return { resourceType: 'Patient', ...(id ? { id } : {}), identifier: [{ system, value }], name: [{ family: `Deferred${value}` }] };
}

async function rowsFor(id: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ t: string; n: string }>(
    `SELECT 'resource' AS t, count(*) AS n FROM resource WHERE id = $1
     UNION ALL SELECT 'history', count(*) FROM resource_history WHERE id = $1
     UNION ALL SELECT 'token', count(*) FROM sp_token WHERE id = $1
     UNION ALL SELECT 'string', count(*) FROM sp_string WHERE id = $1`,
    [id],
  );
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
}

describe('creates in a transaction', () => {
  test('are seen by the same transaction and committed with history and search rows', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const repo = t.server.app.repo();
    const [a, found, read] = await repo.withTransaction(async (tx) => {
      const a = await tx.createResource(patient(system, 'a'));
      await tx.createResource(patient(system, 'b'));
      const found = await tx.searchResources<Patient>({
        resourceType: 'Patient',
        filters: [{ code: 'identifier', operator: 'eq', value: `${system}|a` }],
      });
      return [a, found, await tx.readResource<Patient>('Patient', a.id)];
    });
    expect(found.map((p) => p.id)).toEqual([a.id]);
    expect(read.meta?.versionId).toBe(a.meta?.versionId);
    const counts = await rowsFor(a.id);
    expect(counts.resource).toBe(1);
    expect(counts.history).toBe(1);
    expect(counts.token).toBeGreaterThan(0);
    expect(counts.string).toBeGreaterThan(0);
  });

  test('an update later in the transaction sees the create and makes a second version', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const updated = await t.server.app.repo().withTransaction(async (tx) => {
      const created = await tx.createResource(patient(system, 'u'));
      return tx.updateResource<Patient>({ ...created, active: true });
    });
    const history = await t.medplum.readHistory('Patient', updated.id as string);
    expect(history.entry).toHaveLength(2);
    expect((await t.medplum.readResource('Patient', updated.id as string)).active).toBe(true);
  });

  test('a create of an id that already exists fails the transaction with 409 and leaves nothing behind', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const existing = await t.medplum.createResource(patient(system, 'old'));
    const fresh = crypto.randomUUID();
    const attempt = t.server.app.repo().withTransaction(async (tx) => {
      await tx.createResource(patient(system, 'new', fresh), { assignedId: true });
      await tx.createResource(patient(system, 'dup', existing.id), { assignedId: true });
    });
    await expect(attempt).rejects.toBeInstanceOf(OperationOutcomeError);
    await expect(attempt).rejects.toMatchObject({ outcome: { issue: [{ code: 'conflict' }] } });
    expect(await rowsFor(fresh)).toEqual({ resource: 0, history: 0, token: 0, string: 0 });
    expect((await rowsFor(existing.id as string)).history).toBe(1);
  });

  test('a swallowed write failure still fails the commit', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const existing = await t.medplum.createResource(patient(system, 'old'));
    const attempt = t.server.app.repo().withTransaction(async (tx) => {
      await tx.createResource(patient(system, 'dup', existing.id), { assignedId: true });
      // The failed write surfaces here and is ignored; the commit must not report success.
      await tx.readResource('Patient', existing.id as string).catch(() => undefined);
    });
    await expect(attempt).rejects.toMatchObject({ outcome: { issue: [{ code: 'conflict' }] } });
  });

  test('a nested transaction that fails drops its creates; the outer one commits its own', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    let inner: string | undefined;
    const outer = await t.server.app.repo().withTransaction(async (tx) => {
      const outer = await tx.createResource(patient(system, 'outer'));
      await tx
        .withTransaction(async (nested) => {
          inner = (await nested.createResource(patient(system, 'inner'))).id;
          throw new Error('inner failure');
        })
        .catch(() => undefined);
      return outer;
    });
    expect((await rowsFor(outer.id)).resource).toBe(1);
    expect(await rowsFor(inner as string)).toEqual({ resource: 0, history: 0, token: 0, string: 0 });
  });
});

describe('conditional creates in a transaction (a transaction Bundle with If-None-Exist entries)', () => {
  const byIdentifier = <T extends Resource>(resourceType: T['resourceType'], system: string, value: string) => ({
    resourceType,
    filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${system}|${value}` }],
  });
  const flag = (system: string, value: string): Flag => ({
    resourceType: 'Flag',
    status: 'active',
    identifier: [{ system, value }],
    code: { text: 'deferred test' },
    subject: { reference: 'Patient/x' },
  });

  /** The statements (their prepared names or texts) this process's database clients send while `work` runs. */
  async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    const spy = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { name?: string; text?: string };
      sent.push(typeof q === 'string' ? q : (q.name ?? q.text ?? ''));
      return Reflect.apply(original, this, args) as never;
    });
    try {
      await work();
    } finally {
      spy.mockRestore();
    }
    return sent;
  }

  test('of different types: no savepoints, and every create written in one statement', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const repo = t.server.app.repo();
    const sent = await statementsOf(() =>
      repo.withTransaction(
        async (tx) => {
          await tx.conditionalCreate(patient(system, 'p'), byIdentifier<Patient>('Patient', system, 'p'));
          await tx.conditionalCreate(flag(system, 'f'), byIdentifier<Flag>('Flag', system, 'f'));
        },
        { serializable: true, resourceTypes: ['Patient', 'Flag'] },
      ),
    );
    expect(sent.filter((q) => /SAVEPOINT/i.test(q))).toEqual([]);
    expect(sent.filter((q) => q.startsWith('es_insert_deferred'))).toHaveLength(1);
    expect(await t.medplum.searchResources('Patient', { identifier: `${system}|p` })).toHaveLength(1);
    expect(await t.medplum.searchResources('Flag', { identifier: `${system}|f` })).toHaveLength(1);
  });

  test('of the same type: the second sees the first (pending) create and makes none', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const [first, second] = await t.server.app
      .repo()
      .withTransaction(
        async (tx) => [
          await tx.conditionalCreate(patient(system, 'same'), byIdentifier<Patient>('Patient', system, 'same')),
          await tx.conditionalCreate(patient(system, 'same'), byIdentifier<Patient>('Patient', system, 'same')),
        ],
        { serializable: true, resourceTypes: ['Patient'] },
      );
    expect(first.outcome.id).toBe('created');
    expect(second.outcome.id).toBe('ok');
    expect(second.resource.id).toBe(first.resource.id);
    expect(await t.medplum.searchResources('Patient', { identifier: `${system}|same` })).toHaveLength(1);
  });

  test('an existing match is returned, several are a 412, and a failure leaves nothing of the transaction', async () => {
    const system = `urn:deferred:${crypto.randomUUID()}`;
    const existing = await t.medplum.createResource(patient(system, 'old'));
    const found = await t.server.app
      .repo()
      .withTransaction((tx) => tx.conditionalCreate(patient(system, 'old'), byIdentifier<Patient>('Patient', system, 'old')));
    expect(found.resource.id).toBe(existing.id);
    await t.medplum.createResource(patient(system, 'old'));
    let made: string | undefined;
    const attempt = t.server.app.repo().withTransaction(async (tx) => {
      made = (await tx.conditionalCreate(flag(system, 'new'), byIdentifier<Flag>('Flag', system, 'new'))).resource.id;
      await tx.conditionalCreate(patient(system, 'old'), byIdentifier<Patient>('Patient', system, 'old'));
    });
    await expect(attempt).rejects.toMatchObject({ outcome: { issue: [{ code: 'multiple-matches' }] } });
    expect(await rowsFor(made as string)).toEqual({ resource: 0, history: 0, token: 0, string: 0 });
  });
});
