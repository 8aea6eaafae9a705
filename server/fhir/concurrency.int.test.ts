import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch } from '../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const PATCH = { 'content-type': 'application/json-patch+json' };

describe('concurrent writes to one resource', () => {
  test('20 concurrent PATCHes appending to an array all survive', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:seed', value: '0' }] });
    // Each request comes from its own client, as independent actors would.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t
          .newClient()
          .patchResource('Patient', p.id as string, [{ op: 'add', path: '/identifier/-', value: { system: 'urn:n', value: String(i) } }]),
      ),
    );
    expect(new Set(results.map((r) => r.meta?.versionId)).size).toBe(20);
    const final = await t.medplum.readResource('Patient', p.id as string);
    const values = (final.identifier ?? []).filter((i) => i.system === 'urn:n').map((i) => Number(i.value));
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const history = await t.medplum.get<Bundle>(`${t.fhirUrl}Patient/${p.id}/_history?_count=100`);
    expect(history.entry).toHaveLength(21);
  });

  test('20 concurrent increments (test-and-replace patches) never lose an update', async () => {
    const obs = await t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'counter' },
      valueInteger: 0,
    });
    // A client-side increment: read, then PATCH guarded by If-Match, retrying on 412.
    const increment = async (): Promise<number> => {
      for (let attempt = 0; ; attempt++) {
        const current = await t.newClient().readResource('Observation', obs.id as string);
        const res = await fhirFetch(t.fhirUrl, 'PATCH', `Observation/${obs.id}`, {
          raw: JSON.stringify([{ op: 'replace', path: '/valueInteger', value: (current.valueInteger ?? 0) + 1 }]),
          headers: { ...PATCH, 'if-match': `W/"${current.meta?.versionId}"` },
        });
        if (res.status === 200) {
          return attempt;
        }
        expect(res.status).toBe(412);
      }
    };
    await Promise.all(Array.from({ length: 20 }, increment));
    expect((await t.medplum.readResource('Observation', obs.id as string)).valueInteger).toBe(20);
  });

  test('concurrent PUTs without If-Match all succeed (last write wins, none fails)', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    const statuses = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        fhirFetch(t.fhirUrl, 'PUT', `Patient/${p.id}`, {
          body: { resourceType: 'Patient', id: p.id, birthDate: `2000-01-${String(i + 1).padStart(2, '0')}` },
        }),
      ),
    );
    expect(statuses.map((s) => s.status)).toEqual(Array(15).fill(200));
    const history = await t.medplum.get<Bundle>(`${t.fhirUrl}Patient/${p.id}/_history?_count=100`);
    expect(history.entry).toHaveLength(16);
    const final = await t.medplum.readResource('Patient', p.id as string);
    expect((history.entry?.[0]?.resource as Patient | undefined)?.birthDate).toBe(final.birthDate);
  });

  test('a stale If-Match is 412 and changes nothing', async () => {
    const v1 = await t.medplum.createResource<Patient>({ resourceType: 'Patient', gender: 'male' });
    await t.medplum.updateResource<Patient>({ ...v1, gender: 'female' });
    const res = await fhirFetch(t.fhirUrl, 'PATCH', `Patient/${v1.id}`, {
      raw: JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }]),
      headers: { ...PATCH, 'if-match': `W/"${v1.meta?.versionId}"` },
    });
    expect(res.status).toBe(412);
    expect((await t.medplum.readResource('Patient', v1.id as string)).gender).toBe('female');
  });

  test('of concurrent updates with the same If-Match exactly one wins', async () => {
    for (let round = 0; round < 3; round++) {
      const v1 = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
      const ifMatch = { 'if-match': `W/"${v1.meta?.versionId}"` };
      const results = await Promise.all(
        ['male', 'female', 'other', 'unknown'].map((gender) =>
          fhirFetch<Patient>(t.fhirUrl, 'PUT', `Patient/${v1.id}`, { body: { ...v1, gender }, headers: ifMatch }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 412, 412, 412]);
      const winner = results.find((r) => r.status === 200)?.body as Patient;
      expect((await t.medplum.readResource('Patient', v1.id as string)).gender).toBe(winner.gender);
    }
  });

  test('concurrent conditional creates make exactly one resource', async () => {
    const system = `urn:cc:${crypto.randomUUID()}`;
    const body: Patient = { resourceType: 'Patient', identifier: [{ system, value: '1' }] };
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        fhirFetch<Patient>(t.fhirUrl, 'POST', 'Patient', { body, headers: { 'if-none-exist': `identifier=${system}|1` } }),
      ),
    );
    // The others wait for the first one's commit and find its resource: none runs out of retries (409).
    expect(results.map((r) => r.status).sort()).toEqual([...Array(7).fill(200), 201]);
    const found = await t.medplum.searchResources('Patient', `identifier=${system}|1`);
    expect(found).toHaveLength(1);
  });

  test('concurrent conditional creates of one criteria in transaction Bundles make exactly one resource, none fails', async () => {
    const system = `urn:cc:${crypto.randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        fhirFetch<Bundle>(t.fhirUrl, 'POST', '', {
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              {
                resource: { resourceType: 'Device', identifier: [{ system, value: 'd' }] },
                request: { method: 'POST', url: 'Device', ifNoneExist: `identifier=${system}|d` },
              },
            ],
          },
        }),
      ),
    );
    // The lock makes the others wait for the first commit and then find it: none runs out of retries.
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    const statuses = results.map((r) => r.body.entry?.[0]?.response?.status).sort();
    expect(statuses).toEqual([...Array(7).fill('200'), '201']);
    expect(await t.medplum.searchResources('Device', `identifier=${system}|d`)).toHaveLength(1);
  });

  test('concurrent transaction Bundles of conditional creates with different criteria are never run again', async () => {
    // Alike criteria (one system, values that sort together) put every Bundle's searches and
    // inserts on the same index pages: under SERIALIZABLE, false conflicts that abort and rerun them.
    const retries = async () => (await t.server.metrics.transactionRetries.get()).values.reduce((n, v) => n + v.value, 0);
    const before = await retries();
    const system = `urn:burst:${crypto.randomUUID()}`;
    const types = ['Device', 'Flag', 'DetectedIssue', 'Task', 'CommunicationRequest'] as const;
    const bodies = (b: number): Partial<Record<(typeof types)[number], Record<string, unknown>>> => ({
      Device: {},
      Flag: { status: 'active', code: { text: `flag ${b}` }, subject: { display: `patient ${b}` } },
      DetectedIssue: { status: 'final' },
      Task: { status: 'requested', intent: 'order' },
      CommunicationRequest: { status: 'active' },
    });
    const bundles = Array.from({ length: 16 }, (_, b) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: types.map((type) => ({
        resource: { resourceType: type, identifier: [{ system, value: `${type}|${b}` }], ...bodies(b)[type] },
        request: { method: 'POST', url: type, ifNoneExist: `identifier=${system}|${type}|${b}` },
      })),
    }));
    const results = await Promise.all(bundles.map((body) => fhirFetch<Bundle>(t.fhirUrl, 'POST', '', { body })));
    expect(results.map((r) => r.status)).toEqual(Array(16).fill(200));
    for (const r of results) expect(r.body.entry?.map((e) => e.response?.status)).toEqual(Array(types.length).fill('201'));
    expect(await retries()).toBe(before);
  });

  test('transaction Bundles naming the same criteria in opposite orders wait for each other, never deadlock', async () => {
    const retries = async () => (await t.server.metrics.transactionRetries.get()).values.reduce((n, v) => n + v.value, 0);
    const before = await retries();
    const system = `urn:order:${crypto.randomUUID()}`;
    const create = (value: string) => ({
      resource: { resourceType: 'Device', identifier: [{ system, value }] },
      request: { method: 'POST', url: 'Device', ifNoneExist: `identifier=${system}|${value}` },
    });
    // Each pair of Bundles conditionally creates the same two Devices, one in each order: locked
    // entry by entry, the two would each hold the lock the other waits for.
    const bundles = Array.from({ length: 8 }, (_, i) => [
      [create(`a${i}`), create(`b${i}`)],
      [create(`b${i}`), create(`a${i}`)],
    ]).flat();
    const results = await Promise.all(
      bundles.map((entry) => fhirFetch<Bundle>(t.fhirUrl, 'POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(16).fill(200));
    expect(await retries()).toBe(before);
    const devices = await t.medplum.searchResources('Device', `identifier=${system}|&_count=100`);
    expect(devices).toHaveLength(16);
  });

  test('concurrent PUT-creates of one new id: one creates, the others update', async () => {
    const id = `race-${crypto.randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fhirFetch(t.fhirUrl, 'PUT', `Patient/${id}`, { body: { resourceType: 'Patient', id, birthDate: `2001-02-0${i + 1}` } }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
  });
});
