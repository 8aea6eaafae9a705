import { MedplumClient, type WithId } from '@medplum/core';
import type { Encounter, Group, Observation, Patient, Project, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch } from '../../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { createUser } from '../../auth/admin.ts';

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

let t: TestServer;
let ana: WithId<Patient>;
let bo: WithId<Patient>;
let encAna: WithId<Encounter>;
let encBo: WithId<Encounter>;
let vital: WithId<Observation>;
let admissionTask: WithId<Task>;
let triageTask: WithId<Task>;
let group: WithId<Group>;

const PASSWORD = 'correct horse battery staple';
const STEP = 'https://emergisphere.dev/fhir/CodeSystem/workflow-step';

async function exportAll(client: MedplumClient, path: string, query = ''): Promise<Manifest> {
  const url = client.fhirUrl(...(path ? path.split('/') : []), '$export').toString() + query;
  return (await client.startAsyncRequest(url, { pollStatusOnAccepted: true, pollStatusPeriod: 100 })) as Manifest;
}

/** Downloads every output file: type → "Type/id" list. */
async function contents(client: MedplumClient, manifest: Manifest): Promise<Map<string, Resource[]>> {
  const out = new Map<string, Resource[]>();
  for (const file of manifest.output) {
    const text = await (await client.download(file.url)).text();
    const resources = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Resource);
    expect(resources.length).toBe(file.count);
    expect(resources.every((r) => r.resourceType === file.type)).toBe(true);
    out.set(file.type, [...(out.get(file.type) ?? []), ...resources]);
  }
  return out;
}

const ids = (m: Map<string, Resource[]>, type: string) => (m.get(type) ?? []).map((r) => r.id).sort();

beforeAll(async () => {
  t = await startTestServer();
  const m = t.medplum;
  ana = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Rivera', given: ['Ana'] }] });
  bo = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Bo'] }] });
  encAna = await m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'finished',
    class: { code: 'EMER' },
    subject: { reference: `Patient/${ana.id}` },
    reasonCode: [{ text: 'chest pain' }],
  });
  encBo = await m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { code: 'EMER' },
    subject: { reference: `Patient/${bo.id}` },
  });
  vital = await m.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/${ana.id}` },
    valueQuantity: { value: 88, unit: '/min' },
  });
  const task = (step: string, patient: Patient): Task => ({
    resourceType: 'Task',
    status: 'ready',
    intent: 'order',
    code: { coding: [{ system: STEP, code: step }] },
    for: { reference: `Patient/${patient.id}` },
  });
  admissionTask = await m.createResource(task('admission', ana));
  triageTask = await m.createResource(task('triage', ana));
  group = await m.createResource<Group>({
    resourceType: 'Group',
    type: 'person',
    actual: true,
    member: [{ entity: { reference: `Patient/${bo.id}` } }],
  });
});

afterAll(async () => {
  await t?.close();
});

describe('$export', () => {
  test('system export through MedplumClient.bulkExport: manifest, NDJSON per type, counts', async () => {
    const manifest = (await t.medplum.bulkExport('', 'Patient,Encounter,Observation,Task', undefined, {
      pollStatusOnAccepted: true,
      pollStatusPeriod: 100,
    })) as unknown as Manifest;
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.request).toContain('$export');
    expect(Date.parse(manifest.transactionTime)).toBeGreaterThan(0);
    expect(manifest.error).toEqual([]);
    const files = await contents(t.medplum, manifest);
    expect(ids(files, 'Patient')).toEqual([ana.id, bo.id].sort());
    expect(ids(files, 'Encounter')).toEqual([encAna.id, encBo.id].sort());
    expect(ids(files, 'Observation')).toEqual([vital.id]);
    expect(ids(files, 'Task')).toEqual([admissionTask.id, triageTask.id].sort());
  });

  test('_since and _typeFilter narrow the export', async () => {
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    const later = await t.medplum.updateResource<Patient>({ ...bo, gender: 'male' });
    const sinceManifest = await exportAll(t.medplum, '', `?_type=Patient,Encounter&_since=${encodeURIComponent(since)}`);
    const sinceFiles = await contents(t.medplum, sinceManifest);
    expect(ids(sinceFiles, 'Patient')).toEqual([later.id]);
    expect(ids(sinceFiles, 'Encounter')).toEqual([]);

    const filter = encodeURIComponent(`Task?code=${STEP}|triage,Encounter?status=finished`);
    const filtered = await contents(t.medplum, await exportAll(t.medplum, '', `?_type=Task,Encounter&_typeFilter=${filter}`));
    expect(ids(filtered, 'Task')).toEqual([triageTask.id]);
    expect(ids(filtered, 'Encounter')).toEqual([encAna.id]);
  });

  test('every export leaves an AuditEvent: who, which types, _since, how many resources', async () => {
    const since = '2020-01-01T00:00:00.000Z';
    const manifest = await exportAll(t.medplum, '', `?_type=Patient,Task&_since=${encodeURIComponent(since)}`);
    const job = manifest.request; // the kick-off URL, recorded as the query
    const events = await t.medplum.searchResources('AuditEvent', { type: '110106', _count: '50', _sort: '-_lastUpdated' });
    const event = events.find((e) => Buffer.from(e.entity?.[0]?.query ?? '', 'base64').toString() === job);
    expect(event).toBeDefined();
    expect(event?.outcome).toBe('0');
    expect(event?.agent[0].who?.reference).toBe(`ClientApplication/${t.admin.clientId}`);
    const detail = Object.fromEntries((event?.entity?.[0]?.detail ?? []).map((d) => [d.type, d.valueString]));
    expect(detail._since).toBe(since);
    expect(detail.resources).toBe('4');
    const perType = Object.fromEntries(event?.entity?.slice(1).map((e) => [e.name, e.detail?.[0]?.valueString]) ?? []);
    expect(perType).toEqual({ Patient: '2', Task: '2' });
  });

  test('Patient/$export returns the compartment; Group/$export only its members', async () => {
    const all = await contents(t.medplum, await exportAll(t.medplum, 'Patient'));
    expect(ids(all, 'Patient')).toEqual([ana.id, bo.id].sort());
    expect(ids(all, 'Observation')).toEqual([vital.id]);
    // Group is in the Patient compartment (through `member`).
    expect(ids(all, 'Group')).toEqual([group.id]);

    const members = await contents(t.medplum, await exportAll(t.medplum, `Group/${group.id}`));
    expect(ids(members, 'Patient')).toEqual([bo.id]);
    expect(ids(members, 'Encounter')).toEqual([encBo.id]);
    expect(members.has('Observation')).toBe(false);
    expect(members.has('Task')).toBe(false);
  });

  test('a restricted role exports only what it may search, with hidden fields removed', async () => {
    const project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
    await createUser(t.server.app.repo(), project, {
      email: 'clerk@example.org',
      password: PASSWORD,
      firstName: 'Reg',
      lastName: 'Clerk',
      role: 'registration-clerk',
    });
    const clerk = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    await clerk.processCode((await clerk.startLogin({ email: 'clerk@example.org', password: PASSWORD })).code as string);
    const manifest = await exportAll(clerk, '', '?_type=Patient,Encounter,Task,Observation');
    const files = await contents(clerk, manifest);
    expect(ids(files, 'Patient')).toEqual([ana.id, bo.id].sort());
    expect(ids(files, 'Task')).toEqual([admissionTask.id]);
    expect(files.has('Observation')).toBe(false);
    const encounter = files.get('Encounter')?.find((e) => e.id === encAna.id) as Encounter;
    expect(encounter.status).toBe('finished');
    expect(encounter.reasonCode).toBeUndefined();
    // The type the clerk may not search is reported in the manifest's error list.
    expect(manifest.error).toHaveLength(1);
    const error = await (await clerk.download(manifest.error[0].url)).text();
    expect(error).toContain('Observation');

    // Another user's job and files do not exist for the clerk.
    const admin = await fhirFetch(t.fhirUrl, 'GET', '$export?_type=Patient', { headers: { Prefer: 'respond-async' } });
    const status = admin.headers.get('content-location') as string;
    const res = await fetch(status, { headers: { Authorization: `Bearer ${clerk.getAccessToken()}` } });
    expect(res.status).toBe(404);
  });

  test('kick-off without Prefer: respond-async, or with another _outputFormat, is a 400', async () => {
    const noPrefer = await fhirFetch(t.fhirUrl, 'GET', '$export');
    expect(noPrefer.status).toBe(400);
    expect(JSON.stringify(noPrefer.body)).toContain('respond-async');
    const csv = await fhirFetch(t.fhirUrl, 'GET', '$export?_outputFormat=text/csv', { headers: { Prefer: 'respond-async' } });
    expect(csv.status).toBe(400);
    expect(JSON.stringify(csv.body)).toContain('_outputFormat');
    const badType = await fhirFetch(t.fhirUrl, 'GET', '$export?_type=Nope', { headers: { Prefer: 'respond-async' } });
    expect(badType.status).toBe(400);
    const badSince = await fhirFetch(t.fhirUrl, 'GET', '$export?_since=yesterday', { headers: { Prefer: 'respond-async' } });
    expect(badSince.status).toBe(400);
    const missingGroup = await fhirFetch(t.fhirUrl, 'GET', 'Group/nope/$export', { headers: { Prefer: 'respond-async' } });
    expect(missingGroup.status).toBe(404);
  });

  test('status polling answers 202 with X-Progress, then 200; DELETE removes the job', async () => {
    const kick = await fhirFetch(t.fhirUrl, 'GET', '$export?_type=Patient', { headers: { Prefer: 'respond-async' } });
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers.get('content-location') as string;
    expect(statusUrl).toContain('/fhir/R4/bulkdata/');
    const headers = { Authorization: t.authorization };
    let res = await fetch(statusUrl, { headers });
    const seen: number[] = [];
    while (res.status === 202) {
      seen.push(res.status);
      expect(res.headers.get('x-progress')).toBeTruthy();
      await new Promise((r) => setTimeout(r, 50));
      res = await fetch(statusUrl, { headers });
    }
    expect(res.status).toBe(200);
    const del = await fetch(statusUrl, { method: 'DELETE', headers });
    expect(del.status).toBe(202);
    expect((await fetch(statusUrl, { headers })).status).toBe(404);
  });

  test('a job whose instance died is resumed; one that kept dying is marked failed', async () => {
    const repo = t.server.app.repo();
    const stale = async (attempts: number): Promise<string> => {
      const { rows } = await repo.query<{ id: string }>(
        `INSERT INTO bulk_export_job (id, status, request_url, request, policy, membership_id, transaction_time, progress,
           instance, heartbeat_at, attempts, created_at)
         SELECT gen_random_uuid(), 'running', request_url, '{"level":"system","types":["Patient"]}', policy, membership_id,
           transaction_time, 'crashed', 'a-dead-instance', now() - interval '10 minutes', $1, now() - interval '1 hour'
         FROM bulk_export_job LIMIT 1 RETURNING id`,
        [attempts],
      );
      return rows[0].id;
    };
    const resumed = await stale(1);
    const givenUp = await stale(3);
    // Any claim (a new kick-off, or the periodic sweep) takes over the stale jobs first.
    await exportAll(t.medplum, '', '?_type=Encounter');
    const headers = { Authorization: t.authorization };
    const statusOf = async (id: string) => fetch(`${t.fhirUrl}bulkdata/${id}`, { headers });
    let res = await statusOf(resumed);
    while (res.status === 202) {
      await new Promise((r) => setTimeout(r, 50));
      res = await statusOf(resumed);
    }
    expect(res.status).toBe(200);
    const manifest = (await res.json()) as Manifest;
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Patient', 2]]);
    const failed = await statusOf(givenUp);
    expect(failed.status).toBe(500);
    expect(await failed.text()).toContain('interrupted 3 times');
  });
});
