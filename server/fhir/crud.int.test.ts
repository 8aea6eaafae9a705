import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, CapabilityStatement, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch, issueTexts } from '../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** The OperationOutcome a MedplumClient call rejected with. */
async function rejection(promise: Promise<unknown>): Promise<OperationOutcome> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OperationOutcomeError);
  return (err as OperationOutcomeError).outcome;
}

function uniqueSystem(): string {
  return `urn:test:${crypto.randomUUID()}`;
}

describe('CRUD through MedplumClient', () => {
  test('create, read, update, delete', async () => {
    const created = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Smith', given: ['Ann'] }] });
    expect(created.id).toMatch(UUID);
    expect(created.meta?.versionId).toMatch(UUID);
    expect(Number.isNaN(Date.parse(created.meta?.lastUpdated as string))).toBe(false);
    const read = await t.medplum.readResource('Patient', created.id as string);
    expect(read).toEqual(created);
    const updated = await t.medplum.updateResource<Patient>({ ...read, gender: 'female' });
    expect(updated.gender).toBe('female');
    expect(updated.meta?.versionId).not.toBe(created.meta?.versionId);
    expect(Date.parse(updated.meta?.lastUpdated as string)).toBeGreaterThan(Date.parse(created.meta?.lastUpdated as string));
    await t.medplum.deleteResource('Patient', created.id as string);
    const oo = await rejection(t.medplum.readResource('Patient', created.id as string));
    expect(oo.id).toBe('gone');
  });

  test('search by name prefix', async () => {
    await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Zeppelin' }] });
    const bundle = await t.medplum.search('Patient', 'name=zep');
    expect(bundle.entry?.map((e) => (e.resource as Patient).name?.[0]?.family)).toEqual(['Zeppelin']);
  });

  test('a client-supplied id on create is replaced by a server UUID', async () => {
    const created = await t.medplum.createResource<Patient>({ resourceType: 'Patient', id: 'mine' });
    expect(created.id).toMatch(UUID);
  });

  test('read of a deleted resource is 410 Gone, unknown id 404, both with OperationOutcome', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    await t.medplum.deleteResource('Patient', p.id as string);
    const gone = await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/${p.id}`);
    expect(gone.status).toBe(410);
    expect(gone.body.resourceType).toBe('OperationOutcome');
    const missing = await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/${crypto.randomUUID()}`);
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
    // Deleting again is idempotent; deleting what never existed is 404.
    expect((await fhirFetch(t.fhirUrl, 'DELETE', `Patient/${p.id}`)).status).toBe(200);
    expect((await fhirFetch(t.fhirUrl, 'DELETE', `Patient/${crypto.randomUUID()}`)).status).toBe(404);
  });

  test('a deleted resource can be re-created by update', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', gender: 'male' });
    await t.medplum.deleteResource('Patient', p.id as string);
    const back = await t.medplum.updateResource<Patient>({ resourceType: 'Patient', id: p.id, gender: 'other' });
    expect(back.gender).toBe('other');
    expect((await t.medplum.readResource('Patient', p.id as string)).gender).toBe('other');
  });

  test('JSON Patch', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Patch' }] });
    const patched = await t.medplum.patchResource('Patient', p.id as string, [
      { op: 'add', path: '/gender', value: 'female' },
      { op: 'add', path: '/name/0/given', value: ['Pat'] },
    ]);
    expect(patched.gender).toBe('female');
    expect(patched.name?.[0]?.given).toEqual(['Pat']);
    expect(patched.meta?.versionId).not.toBe(p.meta?.versionId);
    // A failing test operation rejects the whole patch.
    const oo = await rejection(
      t.medplum.patchResource('Patient', p.id as string, [
        { op: 'test', path: '/gender', value: 'male' },
        { op: 'replace', path: '/gender', value: 'other' },
      ]),
    );
    expect(issueTexts(oo).join()).toMatch(/patch failed/i);
    expect((await t.medplum.readResource('Patient', p.id as string)).gender).toBe('female');
    // A patch that produces an invalid resource is rejected by validation.
    const invalid = await fhirFetch<OperationOutcome>(t.fhirUrl, 'PATCH', `Patient/${p.id}`, {
      raw: JSON.stringify([{ op: 'add', path: '/birthDate', value: 'yesterday' }]),
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.issue?.[0]?.expression).toEqual(['Patient.birthDate']);
    // Changing the id is not allowed.
    const idChange = await fhirFetch(t.fhirUrl, 'PATCH', `Patient/${p.id}`, {
      raw: JSON.stringify([{ op: 'replace', path: '/id', value: 'other' }]),
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(idChange.status).toBe(400);
    // Malformed operations are a 400, not a crash.
    for (const ops of [[{ op: 'bogus', path: '/x' }], [1, 2], [{ op: 'add' }], [{ op: 'replace', path: '/gender' }]]) {
      const r = await fhirFetch<OperationOutcome>(t.fhirUrl, 'PATCH', `Patient/${p.id}`, {
        raw: JSON.stringify(ops),
        headers: { 'content-type': 'application/json-patch+json' },
      });
      expect(r.status, JSON.stringify(ops)).toBe(400);
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });

  test('vread returns each version; unknown versions are 404', async () => {
    const v1 = await t.medplum.createResource<Patient>({ resourceType: 'Patient', gender: 'male' });
    const v2 = await t.medplum.updateResource<Patient>({ ...v1, gender: 'female' });
    const r1 = await t.medplum.readVersion('Patient', v1.id as string, v1.meta?.versionId as string);
    const r2 = await t.medplum.readVersion('Patient', v1.id as string, v2.meta?.versionId as string);
    expect(r1.gender).toBe('male');
    expect(r2.gender).toBe('female');
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${v1.id}/_history/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${v1.id}/_history/not-a-version`)).status).toBe(404);
    // A version of another resource is not this resource's version.
    const other = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${v1.id}/_history/${other.meta?.versionId}`)).status).toBe(404);
    // The version of a delete is gone.
    await t.medplum.deleteResource('Patient', v1.id as string);
    const history = await t.medplum.readHistory('Patient', v1.id as string);
    const deleteVersion = String(history.entry?.[0]?.response?.etag).replace(/^W\/"|"$/g, '');
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${v1.id}/_history/${deleteVersion}`)).status).toBe(410);
  });

  test('an update that changes nothing creates no version', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Same' }] });
    const again = await t.medplum.updateResource<Patient>({ ...p });
    expect(again.meta?.versionId).toBe(p.meta?.versionId);
    expect(again.meta?.lastUpdated).toBe(p.meta?.lastUpdated);
    // Without meta at all, and through a no-op patch, still nothing new.
    const { meta: _meta, ...withoutMeta } = p;
    expect((await t.medplum.updateResource<Patient>(withoutMeta)).meta?.versionId).toBe(p.meta?.versionId);
    const patched = await t.medplum.patchResource('Patient', p.id as string, [{ op: 'replace', path: '/name/0/family', value: 'Same' }]);
    expect(patched.meta?.versionId).toBe(p.meta?.versionId);
    const history = await t.medplum.readHistory('Patient', p.id as string);
    expect(history.entry).toHaveLength(1);
  });

  test('PUT to a new id creates the resource: 201 with Location', async () => {
    const id = `put-${crypto.randomUUID()}`;
    const res = await fhirFetch<Patient>(t.fhirUrl, 'PUT', `Patient/${id}`, { body: { resourceType: 'Patient', id } });
    expect(res.status).toBe(201);
    expect(res.body.id).toBe(id);
    expect(res.headers.get('location')).toBe(`${t.fhirUrl}Patient/${id}/_history/${res.body.meta?.versionId}`);
    const second = await fhirFetch<Patient>(t.fhirUrl, 'PUT', `Patient/${id}`, { body: { resourceType: 'Patient', id, active: true } });
    expect(second.status).toBe(200);
  });
});

describe('headers and Prefer', () => {
  test('create answers 201 with Location, ETag and Last-Modified', async () => {
    const res = await fhirFetch<Patient>(t.fhirUrl, 'POST', 'Patient', { body: { resourceType: 'Patient' } });
    expect(res.status).toBe(201);
    const { id, meta } = res.body;
    expect(res.headers.get('location')).toBe(`${t.fhirUrl}Patient/${id}/_history/${meta?.versionId}`);
    expect(res.headers.get('etag')).toBe(`W/"${meta?.versionId}"`);
    expect(new Date(res.headers.get('last-modified') as string).getTime()).toBe(
      Math.floor(Date.parse(meta?.lastUpdated as string) / 1000) * 1000,
    );
    const read = await fhirFetch(t.fhirUrl, 'GET', `Patient/${id}`);
    expect(read.headers.get('etag')).toBe(`W/"${meta?.versionId}"`);
    expect(read.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  });

  test('Prefer: return=minimal | representation | OperationOutcome', async () => {
    const minimal = await fhirFetch(t.fhirUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { prefer: 'return=minimal' },
    });
    expect(minimal.status).toBe(201);
    expect(minimal.text).toBe('');
    expect(minimal.headers.get('location')).toMatch(/Patient\/[0-9a-f-]{36}\/_history\/[0-9a-f-]{36}$/);
    expect(minimal.headers.get('etag')).toMatch(/^W\/"/);

    const representation = await fhirFetch<Patient>(t.fhirUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { prefer: 'return=representation' },
    });
    expect(representation.body.resourceType).toBe('Patient');

    const oo = await fhirFetch<OperationOutcome>(t.fhirUrl, 'PUT', `Patient/${representation.body.id}`, {
      body: { ...representation.body, active: true },
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(oo.status).toBe(200);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    expect(oo.body.issue?.[0]?.severity).toBe('information');
  });
});

describe('conditional interactions and If-Match', () => {
  test('conditional create: none → 201, one → 200 with the existing, several → 412', async () => {
    const system = uniqueSystem();
    const body = { resourceType: 'Patient', identifier: [{ system, value: '1' }] };
    const ifNoneExist = { 'if-none-exist': `identifier=${system}|1` };
    const first = await fhirFetch<Patient>(t.fhirUrl, 'POST', 'Patient', { body, headers: ifNoneExist });
    expect(first.status).toBe(201);
    const second = await fhirFetch<Patient>(t.fhirUrl, 'POST', 'Patient', { body, headers: ifNoneExist });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    // Through the client too.
    const viaClient = await t.medplum.createResourceIfNoneExist<Patient>(body as Patient, `identifier=${system}|1`);
    expect(viaClient.id).toBe(first.body.id);

    await t.medplum.createResource<Patient>(body as Patient);
    const several = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient', { body, headers: ifNoneExist });
    expect(several.status).toBe(412);
    expect(several.body.resourceType).toBe('OperationOutcome');
  });

  test('conditional update: creates, then updates the single match, 412 on several', async () => {
    const system = uniqueSystem();
    const body: Patient = { resourceType: 'Patient', identifier: [{ system, value: 'u' }], gender: 'male' };
    const created = await fhirFetch<Patient>(t.fhirUrl, 'PUT', `Patient?identifier=${system}|u`, { body });
    expect(created.status).toBe(201);
    const upserted = await t.medplum.upsertResource<Patient>({ ...body, gender: 'female' }, `identifier=${system}|u`);
    expect(upserted.id).toBe(created.body.id);
    expect(upserted.gender).toBe('female');
    await t.medplum.createResource(body);
    const several = await fhirFetch(t.fhirUrl, 'PUT', `Patient?identifier=${system}|u`, { body });
    expect(several.status).toBe(412);
  });

  test('conditional delete deletes the single match; several → 412; no criteria → 400', async () => {
    const system = uniqueSystem();
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'd' }] });
    const res = await fhirFetch(t.fhirUrl, 'DELETE', `Patient?identifier=${system}|d`);
    expect(res.status).toBe(200);
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${p.id}`)).status).toBe(410);
    await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'x' }] });
    await t.medplum.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'x' }] });
    expect((await fhirFetch(t.fhirUrl, 'DELETE', `Patient?identifier=${system}|x`)).status).toBe(412);
    // Without criteria a conditional delete/update would hit every Patient: refused.
    const noCriteria = await fhirFetch<OperationOutcome>(t.fhirUrl, 'DELETE', 'Patient');
    expect(noCriteria.status).toBe(400);
    expect(issueTexts(noCriteria.body).join()).toMatch(/criteria/);
    expect((await fhirFetch(t.fhirUrl, 'PUT', 'Patient', { body: { resourceType: 'Patient' } })).status).toBe(400);
  });

  test('If-Match on update, patch and delete: the current version passes, a stale one is 412', async () => {
    const v1 = await t.medplum.createResource<Patient>({ resourceType: 'Patient', gender: 'male' });
    const v2 = await t.medplum.updateResource<Patient>(
      { ...v1, gender: 'female' },
      { headers: { 'If-Match': `W/"${v1.meta?.versionId}"` } },
    );
    const stale = { 'if-match': `W/"${v1.meta?.versionId}"` };
    const staleUpdate = await fhirFetch<OperationOutcome>(t.fhirUrl, 'PUT', `Patient/${v1.id}`, {
      body: { ...v2, gender: 'other' },
      headers: stale,
    });
    expect(staleUpdate.status).toBe(412);
    expect(staleUpdate.body.resourceType).toBe('OperationOutcome');
    const stalePatch = await fhirFetch(t.fhirUrl, 'PATCH', `Patient/${v1.id}`, {
      raw: JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }]),
      headers: { ...stale, 'content-type': 'application/json-patch+json' },
    });
    expect(stalePatch.status).toBe(412);
    expect((await fhirFetch(t.fhirUrl, 'DELETE', `Patient/${v1.id}`, { headers: stale })).status).toBe(412);
    expect((await t.medplum.readResource('Patient', v1.id as string)).gender).toBe('female');

    const current = { 'if-match': `W/"${v2.meta?.versionId}"` };
    const patched = await fhirFetch<Patient>(t.fhirUrl, 'PATCH', `Patient/${v1.id}`, {
      raw: JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }]),
      headers: { ...current, 'content-type': 'application/json-patch+json' },
    });
    expect(patched.status).toBe(200);
    expect(
      (await fhirFetch(t.fhirUrl, 'DELETE', `Patient/${v1.id}`, { headers: { 'if-match': `W/"${patched.body.meta?.versionId}"` } })).status,
    ).toBe(200);
  });
});

describe('history', () => {
  test('instance history is newest first and includes the delete', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', gender: 'male' });
    await t.medplum.updateResource<Patient>({ ...p, gender: 'female' });
    await t.medplum.patchResource('Patient', p.id as string, [{ op: 'replace', path: '/gender', value: 'other' }]);
    await t.medplum.deleteResource('Patient', p.id as string);
    const history = await t.medplum.readHistory('Patient', p.id as string);
    expect(history.type).toBe('history');
    const entries = history.entry ?? [];
    expect(entries.map((e) => e.request?.method)).toEqual(['DELETE', 'PUT', 'PUT', 'POST']);
    expect(entries[0].resource).toBeUndefined();
    expect(entries.slice(1).map((e) => (e.resource as Patient).gender)).toEqual(['other', 'female', 'male']);
    const times = entries.map((e) => Date.parse(e.response?.lastModified as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(new Set(times).size).toBe(4);

    const page = await t.medplum.get<Bundle>(t.medplum.fhirUrl('Patient', p.id as string, '_history') + '?_count=2');
    expect(page.entry).toHaveLength(2);
    expect(page.link?.find((l) => l.relation === 'next')?.url).toContain('_offset=2');
    const since = entries[1].response?.lastModified as string;
    const recent = await fhirFetch<Bundle>(t.fhirUrl, 'GET', `Patient/${p.id}/_history?_since=${encodeURIComponent(since)}`);
    expect(recent.body.entry).toHaveLength(2);
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${crypto.randomUUID()}/_history`)).status).toBe(404);
  });

  test('type and system history, with _count and _since', async () => {
    const before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const obs = await t.medplum.createResource<Observation>({ resourceType: 'Observation', status: 'final', code: { text: 'hr' } });
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    await t.medplum.updateResource<Patient>({ ...p, active: true });

    const typeHistory = await fhirFetch<Bundle>(t.fhirUrl, 'GET', `Patient/_history?_since=${encodeURIComponent(before)}`);
    expect(typeHistory.status).toBe(200);
    expect(typeHistory.body.type).toBe('history');
    expect(typeHistory.body.entry?.map((e) => e.resource?.id)).toEqual([p.id, p.id]);

    const systemHistory = await fhirFetch<Bundle>(t.fhirUrl, 'GET', `_history?_since=${encodeURIComponent(before)}`);
    expect(systemHistory.body.entry?.map((e) => e.resource?.resourceType)).toEqual(['Patient', 'Patient', 'Observation']);
    expect(systemHistory.body.entry?.[2]?.resource?.id).toBe(obs.id);

    const counted = await fhirFetch<Bundle>(t.fhirUrl, 'GET', `_history?_count=1&_since=${encodeURIComponent(before)}`);
    expect(counted.body.entry).toHaveLength(1);
    const next = counted.body.link?.find((l) => l.relation === 'next')?.url as string;
    const nextPage = await t.medplum.get<Bundle>(next);
    expect(nextPage.entry?.[0]?.resource?.meta?.versionId).toBe(p.meta?.versionId);
  });

  test('invalid history parameters are 400, unknown types 404', async () => {
    for (const q of ['_count=-1', '_count=abc', '_offset=-5', '_offset=1.5', '_since=yesterday', '_since=2024-13-45']) {
      const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/_history?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    expect((await fhirFetch(t.fhirUrl, 'GET', `Patient/${p.id}/_history?_count=x`)).status).toBe(400);
    expect((await fhirFetch(t.fhirUrl, 'GET', 'Foo/_history')).status).toBe(404);
  });
});

describe('metadata and health', () => {
  test('GET metadata is a CapabilityStatement', async () => {
    const cs = await t.medplum.get<CapabilityStatement>(`${t.fhirUrl}metadata`);
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    const patient = cs.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    expect(patient?.searchParam?.map((p) => p.name)).toEqual(expect.arrayContaining(['name', 'identifier', 'birthdate']));
    expect(patient?.interaction?.map((i) => i.code)).toEqual(expect.arrayContaining(['read', 'create', 'update', 'delete']));
  });

  test('/healthcheck reports the database', async () => {
    const res = await fetch(`${t.baseUrl}healthcheck`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, postgres: true });
  });
});
