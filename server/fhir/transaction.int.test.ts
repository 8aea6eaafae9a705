import type { Bundle, BundleEntry, Encounter, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
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

function urn(): string {
  return `urn:uuid:${crypto.randomUUID()}`;
}

function tag(): string {
  return `urn:tx:${crypto.randomUUID()}`;
}

/** A patient with an encounter and an observation, linked through urn:uuid references. */
function admission(system: string): BundleEntry[] {
  const patient = urn();
  const encounter = urn();
  return [
    {
      fullUrl: patient,
      request: { method: 'POST', url: 'Patient' },
      resource: { resourceType: 'Patient', identifier: [{ system, value: 'p' }], name: [{ family: 'Tx' }] },
    },
    {
      fullUrl: encounter,
      request: { method: 'POST', url: 'Encounter' },
      resource: {
        resourceType: 'Encounter',
        identifier: [{ system, value: 'e' }],
        status: 'arrived',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        subject: { reference: patient },
      },
    },
    {
      fullUrl: urn(),
      request: { method: 'POST', url: 'Observation' },
      resource: {
        resourceType: 'Observation',
        identifier: [{ system, value: 'o' }],
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: patient },
        encounter: { reference: encounter },
        valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      },
    },
  ];
}

async function countByIdentifier(system: string): Promise<number> {
  const [patients, encounters, observations] = await Promise.all([
    t.medplum.searchResources('Patient', `identifier=${system}|`),
    t.medplum.searchResources('Encounter', `identifier=${system}|`),
    t.medplum.searchResources('Observation', `identifier=${system}|`),
  ]);
  return patients.length + encounters.length + observations.length;
}

describe('transaction', () => {
  test('creates everything and rewrites urn:uuid references', async () => {
    const system = tag();
    const result = await t.medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: admission(system) });
    expect(result.type).toBe('transaction-response');
    expect(result.entry?.map((e) => e.response?.status)).toEqual(['201', '201', '201']);
    const [patient, encounter, observation] = (result.entry ?? []).map((e) => e.resource);
    expect((encounter as Encounter).subject?.reference).toBe(`Patient/${patient?.id}`);
    expect((observation as Observation).subject?.reference).toBe(`Patient/${patient?.id}`);
    expect((observation as Observation).encounter?.reference).toBe(`Encounter/${encounter?.id}`);
    expect(result.entry?.[0]?.response?.location).toBe(`Patient/${patient?.id}`);
    // Stored as returned, and searchable by the rewritten reference.
    const stored = await t.medplum.readResource('Observation', observation?.id as string);
    expect(stored.subject?.reference).toBe(`Patient/${patient?.id}`);
    const bySubject = await t.medplum.searchResources('Observation', `subject=Patient/${patient?.id}`);
    expect(bySubject.map((o) => o.id)).toEqual([observation?.id]);
  });

  test('creates are searchable, have their first version and are seen by reads later in the same transaction', async () => {
    const system = tag();
    const entry: BundleEntry[] = Array.from({ length: 30 }, (_, i) => admission(`${system}-${i}`)).flat();
    // FhirRouter runs reads after the writes of a transaction: the search must see the creates.
    entry.push({ request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${system}-7|p`)}` } });
    const result = await t.medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry });
    const created = (result.entry ?? []).slice(0, 90).map((e) => e.resource);
    expect(result.entry?.slice(0, 90).every((e) => e.response?.status === '201')).toBe(true);
    const found = (result.entry?.[90]?.resource as Bundle | undefined)?.entry?.map((e) => e.resource?.id);
    expect(found).toEqual([created[21]?.id]);
    for (const i of [0, 44, 89]) {
      const resource = created[i];
      const history = await t.medplum.readHistory(resource?.resourceType as 'Patient', resource?.id as string);
      expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual([resource?.meta?.versionId]);
    }
    const bySubject = await t.medplum.searchResources('Observation', `subject=Patient/${created[87]?.id}`);
    expect(bySubject.map((o) => o.id)).toEqual([created[89]?.id]);
  });

  test('one invalid entry (the last) leaves nothing behind and answers 400 with an OperationOutcome', async () => {
    const system = tag();
    const entries = admission(system);
    entries.push({
      fullUrl: urn(),
      request: { method: 'POST', url: 'Observation' },
      // status is required, and "bogus" is not a property of Observation.
      resource: {
        resourceType: 'Observation',
        identifier: [{ system, value: 'bad' }],
        code: { text: 'x' },
        bogus: true,
      } as unknown as Observation,
    });
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '', {
      body: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const expressions = res.body.issue?.flatMap((i) => i.expression ?? []);
    expect(expressions).toEqual(expect.arrayContaining(['Observation.status', 'Observation.bogus']));
    expect(await countByIdentifier(system)).toBe(0);
  });

  test('a failing update or delete in a transaction rolls back the creates before it', async () => {
    const system = tag();
    const entries = admission(system);
    entries.push({ request: { method: 'DELETE', url: `Patient/${crypto.randomUUID()}` } });
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '', {
      body: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    });
    expect(res.status).toBe(404);
    expect(await countByIdentifier(system)).toBe(0);

    const existing = await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'keep' }] });
    const stale = admission(system);
    stale.push({
      request: { method: 'PUT', url: `Patient/${existing.id}`, ifMatch: `W/"${crypto.randomUUID()}"` },
      resource: { ...existing, active: true },
    });
    const conflict = await fhirFetch(t.fhirUrl, 'POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: stale } });
    expect(conflict.status).toBe(412);
    expect(await countByIdentifier(system)).toBe(1);
    expect((await t.medplum.readResource('Patient', existing.id as string)).active).toBeUndefined();
  });

  test('updates, patches, deletes and conditional entries in one transaction', async () => {
    const system = tag();
    const [a, b, c, d] = await Promise.all(
      ['a', 'b', 'c', 'd'].map((value) => t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value }] })),
    );
    const patch = [{ op: 'add', path: '/gender', value: 'female' }];
    const result = await t.medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'PUT', url: `Patient/${a.id}` }, resource: { ...a, active: true } },
        {
          request: { method: 'PATCH', url: `Patient/${b.id}` },
          resource: {
            resourceType: 'Binary',
            contentType: 'application/json-patch+json',
            data: Buffer.from(JSON.stringify(patch)).toString('base64'),
          },
        },
        { request: { method: 'DELETE', url: `Patient?identifier=${system}|c` } },
        {
          fullUrl: urn(),
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${system}|d` },
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'd' }] },
        },
        {
          request: { method: 'PUT', url: `Patient?identifier=${system}|e` },
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'e' }] },
        },
      ],
    });
    expect(result.entry?.map((e) => e.response?.status)).toEqual(['200', '200', '200', '200', '201']);
    expect((await t.medplum.readResource('Patient', a.id as string)).active).toBe(true);
    expect((await t.medplum.readResource('Patient', b.id as string)).gender).toBe('female');
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${c.id}`)).status).toBe(410);
    expect(result.entry?.[3]?.resource?.id).toBe(d.id);
    expect(await t.medplum.searchResources('Patient', `identifier=${system}|e`)).toHaveLength(1);
  });
});

describe('batch', () => {
  test('processes entries independently and reports an outcome per entry', async () => {
    const system = tag();
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'x' }] });
    const gone = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    const result = await t.medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', identifier: [{ system, value: 'ok' }] } },
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', gender: 'bogus' } as unknown as Patient },
        { request: { method: 'GET', url: `Patient/${p.id}` } },
        { request: { method: 'GET', url: `Patient/${crypto.randomUUID()}` } },
        { request: { method: 'GET', url: `Patient?identifier=${system}|x` } },
        { request: { method: 'DELETE', url: `Patient/${gone.id}` } },
      ],
    });
    expect(result.type).toBe('batch-response');
    expect(result.entry?.map((e) => e.response?.status)).toEqual(['201', '400', '200', '404', '200', '200']);
    const invalid = result.entry?.[1]?.response?.outcome as OperationOutcome;
    expect(invalid.issue?.[0]?.expression).toEqual(['Patient.gender']);
    expect((result.entry?.[4]?.resource as Bundle | undefined)?.entry).toHaveLength(1);
    // The valid create happened although its neighbour failed.
    expect(await t.medplum.searchResources('Patient', `identifier=${system}|ok`)).toHaveLength(1);
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${gone.id}`)).status).toBe(410);
  });

  test('malformed bundles are 400s', async () => {
    const cases: unknown[] = [
      { resourceType: 'Bundle', type: 'collection', entry: [] },
      { resourceType: 'Bundle', type: 'transaction' },
      { resourceType: 'Patient' },
      { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' } }] },
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'POST', url: 'Foo' }, resource: { resourceType: 'Foo' } }],
      },
      { resourceType: 'Bundle', type: 'batch', entry: 'nope' },
    ];
    for (const body of cases) {
      const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '', { body });
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(body)).toBeLessThan(500);
      expect(res.body.resourceType === 'OperationOutcome' || res.body.resourceType === 'Bundle').toBe(true);
    }
  });
});
