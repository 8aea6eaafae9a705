import { MedplumClient } from '@medplum/core';
import type { AccessPolicy, ClientApplication, OperationOutcome, Patient, Project, ProjectMembership } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
let projectId: string;
let readOnly: AccessPolicy & { id: string };
let readWrite: AccessPolicy & { id: string };

interface ProjectDetails {
  project: Project;
  members: { id: string; user: string; profile: string; accessPolicy?: { reference: string }; admin: boolean; role: string }[];
}

beforeAll(async () => {
  t = await startTestServer();
  const me = await t.medplum.get<{ project: Project }>('auth/me');
  projectId = me.project.id as string;
  readOnly = (await t.medplum.createResource<AccessPolicy>({
    resourceType: 'AccessPolicy',
    name: 'patients read-only',
    resource: [{ resourceType: 'Patient', readonly: true }],
  })) as AccessPolicy & { id: string };
  readWrite = (await t.medplum.createResource<AccessPolicy>({
    resourceType: 'AccessPolicy',
    name: 'patients read-write',
    resource: [{ resourceType: 'Patient' }],
  })) as AccessPolicy & { id: string };
  await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Visible' }] });
});
afterAll(async () => t?.close());

async function signIn(email: string, password: string): Promise<MedplumClient> {
  const client = new MedplumClient({ baseUrl: t.baseUrl, fetch });
  const login = await client.startLogin({ email, password });
  await client.processCode(login.code as string);
  return client;
}

async function raw(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${t.baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('admin/projects/:projectId', () => {
  test('project details with its members', async () => {
    const details = await t.medplum.get<ProjectDetails>(`admin/projects/${projectId}`);
    expect(details.project.id).toBe(projectId);
    expect(details.members.length).toBeGreaterThan(0);
    expect(details.members.some((m) => m.user === `ClientApplication/${t.admin.clientId}` && m.admin)).toBe(true);
  });

  let invited: ProjectMembership;
  let nurse: MedplumClient;
  test('invite (MedplumClient.invite) creates User, profile and membership; the user signs in with the policy limits', async () => {
    invited = (await t.medplum.invite(projectId, {
      resourceType: 'Practitioner',
      firstName: 'Nina',
      lastName: 'Nurse',
      email: 'Nina.Nurse@example.test',
      password: 'correct-horse-battery',
      sendEmail: false,
      membership: { accessPolicy: { reference: `AccessPolicy/${readOnly.id}` } },
    })) as ProjectMembership;
    expect(invited.resourceType).toBe('ProjectMembership');
    expect(invited.profile?.reference).toMatch(/^Practitioner\//);
    expect(invited.accessPolicy?.reference).toBe(`AccessPolicy/${readOnly.id}`);
    const practitioner = await t.medplum.readReference(invited.profile as { reference: string });
    expect(practitioner.resourceType).toBe('Practitioner');

    nurse = await signIn('nina.nurse@example.test', 'correct-horse-battery');
    expect((await nurse.searchResources('Patient')).length).toBeGreaterThan(0);
    await expect(nurse.createResource<Patient>({ resourceType: 'Patient' })).rejects.toThrow(/forbidden/i);
  });

  test('invite errors: duplicate email, bad body, unknown policy → 400', async () => {
    const base = { resourceType: 'Practitioner', firstName: 'A', lastName: 'B', email: 'nina.nurse@example.test' };
    for (const [body, text] of [
      [base, 'already a member'],
      [{ ...base, email: 'x@example.test', resourceType: 'Device' }, 'resourceType'],
      [{ ...base, email: 'not-an-email' }, 'email'],
      [{ ...base, email: 'y@example.test', membership: { accessPolicy: { reference: 'AccessPolicy/nope' } } }, 'AccessPolicy/nope'],
      [{ ...base, email: 'z@example.test', resourceType: 'RelatedPerson' }, 'patient'],
    ] as [unknown, string][]) {
      const res = await raw('POST', `admin/projects/${projectId}/invite`, t.admin.accessToken, body);
      expect(res.status, text).toBe(400);
      expect(JSON.stringify(res.body), text).toContain(text);
    }
  });

  test('non-admins and admins of another project get 403 OperationOutcomes', async () => {
    const token = nurse.getAccessToken() as string;
    for (const [method, path] of [
      ['GET', `admin/projects/${projectId}`],
      ['POST', `admin/projects/${projectId}/invite`],
      ['POST', `admin/projects/${projectId}/client`],
      ['POST', `admin/projects/${projectId}/secrets`],
      ['GET', `admin/projects/${projectId}/members/${invited.id}`],
      ['DELETE', `admin/projects/${projectId}/members/${invited.id}`],
    ]) {
      const res = await raw(method, path, token, method === 'POST' ? {} : undefined);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    const other = await raw('GET', 'admin/projects/some-other-project', t.admin.accessToken);
    expect(other.status).toBe(403);
  });

  test('members: read, change the policy (takes effect), remove (sessions end)', async () => {
    const read = await t.medplum.get<ProjectMembership>(`admin/projects/${projectId}/members/${invited.id}`);
    expect(read.id).toBe(invited.id);
    const updated = await t.medplum.post<ProjectMembership>(`admin/projects/${projectId}/members/${invited.id}`, {
      ...read,
      accessPolicy: { reference: `AccessPolicy/${readWrite.id}` },
    });
    expect(updated.accessPolicy?.reference).toBe(`AccessPolicy/${readWrite.id}`);
    const created = await nurse.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'ByNurse' }] });
    expect(created.id).toBeTruthy();

    const mismatch = await raw('POST', `admin/projects/${projectId}/members/${invited.id}`, t.admin.accessToken, { ...read, id: 'other' });
    expect(mismatch.status).toBe(400);
    const missing = await raw('GET', `admin/projects/${projectId}/members/nope`, t.admin.accessToken);
    expect(missing.status).toBe(404);

    await t.medplum.delete(`admin/projects/${projectId}/members/${invited.id}`);
    const after = await raw('GET', 'fhir/R4/Patient', nurse.getAccessToken() as string);
    expect(after.status).toBe(401);
    const details = await t.medplum.get<ProjectDetails>(`admin/projects/${projectId}`);
    expect(details.members.some((m) => m.id === invited.id)).toBe(false);
  });

  test('client: a ClientApplication with its secret and membership; it signs in under its policy; secret rotation', async () => {
    const client = await t.medplum.post<ClientApplication>(`admin/projects/${projectId}/client`, {
      name: 'Lab integrator',
      description: 'posts results',
      accessPolicy: { reference: `AccessPolicy/${readOnly.id}` },
    });
    expect(client.resourceType).toBe('ClientApplication');
    expect(client.secret).toBeTruthy();
    const integrator = new MedplumClient({ baseUrl: t.baseUrl, fetch });
    await integrator.startClientLogin(client.id as string, client.secret as string);
    expect((await integrator.searchResources('Patient')).length).toBeGreaterThan(0);
    await expect(integrator.createResource<Patient>({ resourceType: 'Patient' })).rejects.toThrow(/forbidden/i);

    const rotated = await t.medplum.post<ClientApplication>(
      t.medplum.fhirUrl('ClientApplication', client.id as string, '$rotate-secret'),
      {},
    );
    expect(rotated.secret).toBeTruthy();
    expect(rotated.secret).not.toBe(client.secret);
    await expect(
      new MedplumClient({ baseUrl: t.baseUrl, fetch }).startClientLogin(client.id as string, client.secret as string),
    ).rejects.toThrow();
    await new MedplumClient({ baseUrl: t.baseUrl, fetch }).startClientLogin(client.id as string, rotated.secret as string);

    const noName = await raw('POST', `admin/projects/${projectId}/client`, t.admin.accessToken, { description: 'x' });
    expect(noName.status).toBe(400);
  });

  test('secrets: the project secrets bots receive', async () => {
    const project = await t.medplum.post<Project>(`admin/projects/${projectId}/secrets`, [
      { name: 'SENDGRID_API_KEY', valueString: 'sg-test' },
      { name: 'RETRIES', valueInteger: 3 },
    ]);
    expect(project.secret).toEqual([
      { name: 'SENDGRID_API_KEY', valueString: 'sg-test' },
      { name: 'RETRIES', valueInteger: 3 },
    ]);
    const details = await t.medplum.get<ProjectDetails>(`admin/projects/${projectId}`);
    expect(details.project.secret?.map((s) => s.name)).toEqual(['SENDGRID_API_KEY', 'RETRIES']);
    const bad = await raw('POST', `admin/projects/${projectId}/secrets`, t.admin.accessToken, { name: 'x' });
    expect(bad.status).toBe(400);
  });
});
