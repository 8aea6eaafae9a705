import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { PostgresRepository } from '../fhir/repo.ts';
import { MAX_PARALLEL_READS } from './read-batch.ts';

// A batch of only reads and searches runs its entries at once (read-batch.ts); its answer must be
// the one FhirRouter's entry-by-entry processing gives.

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('a batch of reads and searches', () => {
  test('answers each entry in order, as FhirRouter does: status, outcome, resource, location', async () => {
    const system = `urn:read-batch:${crypto.randomUUID()}`;
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'x' }] });
    const missing = crypto.randomUUID();
    const result = await t.medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient?identifier=${system}|x` } },
        { request: { method: 'GET', url: `Patient/${p.id}` } },
        { request: { method: 'GET', url: `Patient/${missing}` } },
        { request: { method: 'GET', url: `Patient?identifier=${system}|none&_count=5` } },
      ],
    });
    expect(result.type).toBe('batch-response');
    const entries = result.entry ?? [];
    expect(entries.map((e) => e.response?.status)).toEqual(['200', '200', '404', '200']);
    const [found, read, gone, none] = entries;
    expect((found.resource as Bundle).entry?.map((e) => e.resource?.id)).toEqual([p.id]);
    expect(read.resource?.id).toBe(p.id);
    expect(read.response?.location).toBe(`Patient/${p.id}`);
    expect(found.response?.location).toBeUndefined();
    expect((gone.response?.outcome as OperationOutcome | undefined)?.issue?.[0]?.code).toBe('not-found');
    expect(gone.resource).toBeUndefined();
    expect((none.resource as Bundle).entry ?? []).toHaveLength(0);
  });

  /** Runs `work` and returns it with the most repository searches that were in flight at once. */
  async function mostSearchesAtOnce<T>(work: () => Promise<T>): Promise<{ result: T; most: number }> {
    let inFlight = 0;
    let most = 0;
    const search = PostgresRepository.prototype.search;
    const spy = vi.spyOn(PostgresRepository.prototype, 'search').mockImplementation(async function (this: PostgresRepository, ...args) {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        return await Reflect.apply(search, this, args);
      } finally {
        inFlight--;
      }
    });
    try {
      return { result: await work(), most };
    } finally {
      spy.mockRestore();
    }
  }

  test('runs its searches at once', async () => {
    const { result, most } = await mostSearchesAtOnce(() =>
      t.medplum.executeBatch({
        resourceType: 'Bundle',
        type: 'batch',
        entry: ['Patient?_count=1', 'Observation?_count=1', 'Encounter?_count=1'].map((url) => ({ request: { method: 'GET', url } })),
      }),
    );
    expect(result.entry?.map((e) => e.response?.status)).toEqual(['200', '200', '200']);
    expect(most).toBe(3);
  });

  test('a larger batch runs at most MAX_PARALLEL_READS entries at once, answered in order', async () => {
    const types = ['Patient', 'Observation', 'Encounter', 'Device', 'Flag', 'Task', 'Practitioner'];
    const { result, most } = await mostSearchesAtOnce(() =>
      t.medplum.executeBatch({
        resourceType: 'Bundle',
        type: 'batch',
        entry: types.map((type) => ({ request: { method: 'GET', url: `${type}?_count=1` } })),
      }),
    );
    expect(result.entry?.map((e) => e.response?.status)).toEqual(types.map(() => '200'));
    expect(
      result.entry?.map(
        (e) =>
          (e.resource as Bundle).link
            ?.find((l) => l.relation === 'self')
            ?.url?.split('/')
            .pop()
            ?.split('?')[0],
      ),
    ).toEqual(types);
    expect(most).toBe(MAX_PARALLEL_READS);
  });

  test('with a write among them, runs entry by entry as before', async () => {
    const { result, most } = await mostSearchesAtOnce(() =>
      t.medplum.executeBatch({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: 'Patient?_count=1' } },
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
          { request: { method: 'GET', url: 'Encounter?_count=1' } },
        ],
      }),
    );
    expect(result.entry?.map((e) => e.response?.status)).toEqual(['200', '201', '200']);
    expect(most).toBe(1);
  });
});
