import { MedplumClient, type WithId } from '@medplum/core';
import type { AuditEvent, Claim, Communication, Device, Encounter, Observation, Organization, Patient, Project } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { familyConsent } from '../../test/family-consent.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createClient, createUser } from './admin.ts';

let t: TestServer;
let project: WithId<Project>;
let orgA: WithId<Organization>;
let orgB: WithId<Organization>;
let devA: WithId<Device>;
let devB: WithId<Device>;
let smith: WithId<Patient>;
let jones: WithId<Patient>;
let encSmith: WithId<Encounter>;
let encJones: WithId<Encounter>;
let claim: WithId<Claim>;

const PASSWORD = 'correct horse battery staple';

async function userClient(role: string, email: string, parameters?: Record<string, string>, profileType?: 'RelatedPerson') {
  const membership = await createUser(t.server.app.repo(), project, {
    email,
    password: PASSWORD,
    firstName: 'Test',
    lastName: role,
    role,
    parameters,
    profileType,
  });
  if (profileType === 'RelatedPerson' && parameters?.patient) {
    // A family member sees anything only with the patient's consent on file.
    await t.medplum.createResource(familyConsent(parameters.patient, membership.profile?.reference as string));
  }
  const medplum = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  const login = await medplum.startLogin({ email, password: PASSWORD });
  await medplum.processCode(login.code as string);
  return medplum;
}

function vital(device: Device, patient: Patient): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patient.id}` },
    device: { reference: `Device/${device.id}` },
    valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: { code?: string }[] } }).outcome;
    const code = outcome?.issue?.[0]?.code;
    return code === 'forbidden' ? 403 : code === 'not-found' ? 404 : code === 'login' ? 401 : 400;
  }
}

beforeAll(async () => {
  t = await startTestServer();
  const admin = t.medplum;
  project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
  orgA = await admin.createResource<Organization>({ resourceType: 'Organization', name: 'Acme Monitors' });
  orgB = await admin.createResource<Organization>({ resourceType: 'Organization', name: 'Other Vendor' });
  smith = await admin.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Smith', given: ['Ann'] }] });
  jones = await admin.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Jones', given: ['Bo'] }] });
  devA = await admin.createResource<Device>({
    resourceType: 'Device',
    owner: { reference: `Organization/${orgA.id}` },
    patient: { reference: `Patient/${smith.id}` },
  });
  devB = await admin.createResource<Device>({ resourceType: 'Device', owner: { reference: `Organization/${orgB.id}` } });
  encSmith = await admin.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${smith.id}` },
    reasonCode: [{ text: 'chest pain' }],
  });
  encJones = await admin.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${jones.id}` },
    reasonCode: [{ text: 'overdose' }],
  });
  claim = await admin.createResource<Claim>({
    resourceType: 'Claim',
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'institutional' }] },
    use: 'claim',
    patient: { reference: `Patient/${smith.id}` },
    created: '2026-11-25',
    provider: { reference: `Organization/${orgA.id}` },
    priority: { coding: [{ code: 'normal' }] },
    insurance: [{ sequence: 1, focal: true, coverage: { display: 'Self pay' } }],
  });
});

afterAll(async () => {
  await t?.close();
});

describe('clinical roles', () => {
  test('triage nurse: records vitals, reads patients, sees no billing and no user accounts', async () => {
    const nurse = await userClient('triage-nurse', 'nurse@example.org');
    const obs = await nurse.createResource<Observation>(vital(devA, smith));
    expect(obs.id).toBeTruthy();
    expect((await nurse.readResource('Patient', smith.id)).id).toBe(smith.id);
    expect(await status(nurse.readResource('Claim', claim.id))).toBe(403);
    expect(await status(nurse.search('Claim'))).toBe(403);
    expect(await status(nurse.search('User'))).toBe(403);
    expect(await status(nurse.search('ProjectMembership'))).toBe(403);
  });

  test('billing clerk: no clinical records; Encounter without reason; Patient read-only', async () => {
    const billing = await userClient('billing-clerk', 'billing@example.org');
    expect(await status(billing.search('Observation'))).toBe(403);
    const enc = await billing.readResource('Encounter', encSmith.id);
    expect(enc.status).toBe('in-progress');
    expect(enc.reasonCode).toBeUndefined();
    const listed = await billing.searchResources('Encounter', `_id=${encSmith.id}`);
    expect(listed[0].reasonCode).toBeUndefined();
    expect(await status(billing.updateResource({ ...smith, gender: 'female' }))).toBe(403);
    expect((await billing.readResource('Claim', claim.id)).id).toBe(claim.id);
  });

  test('registration clerk: registers coverage, cannot chart', async () => {
    const clerk = await userClient('registration-clerk', 'registration@example.org');
    const enc = await clerk.readResource('Encounter', encJones.id);
    expect(enc.reasonCode).toBeUndefined();
    expect(await status(clerk.createResource(vital(devA, jones)))).toBe(403);
    const coverage = await clerk.createResource({
      resourceType: 'Coverage',
      status: 'active',
      beneficiary: { reference: `Patient/${jones.id}` },
      payor: [{ reference: `Organization/${orgB.id}` }],
    });
    expect(coverage.id).toBeTruthy();
  });
});

describe('device integrator', () => {
  let device: MedplumClient;
  beforeAll(async () => {
    const { client, secret } = await createClient(t.server.app.repo(), project, {
      name: 'Acme monitors',
      role: 'device-integrator',
      parameters: { organization: `Organization/${orgA.id}` },
    });
    device = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    await device.startClientLogin(client.id, secret);
  });

  test('creates Observations only for its own Devices; a refused write leaves nothing', async () => {
    const ok = await device.createResource(vital(devA, smith));
    expect(ok.id).toBeTruthy();
    const before = await t.medplum.searchResources('Observation', { device: `Device/${devB.id}` });
    expect(await status(device.createResource(vital(devB, smith)))).toBe(403);
    const after = await t.medplum.searchResources('Observation', { device: `Device/${devB.id}` });
    expect(after.length).toBe(before.length);
  });

  test('updates its own Devices, not others', async () => {
    expect((await device.updateResource({ ...devA, serialNumber: 'A-1' })).serialNumber).toBe('A-1');
    expect(await status(device.updateResource({ ...devB, serialNumber: 'B-1' }))).toBe(404);
    expect((await t.medplum.readResource('Device', devB.id)).serialNumber).toBeUndefined();
  });

  test('cannot read a Patient, directly or through search, include, revinclude, chain, _total or GraphQL', async () => {
    expect(await status(device.readResource('Patient', smith.id))).toBe(403);
    expect(await status(device.search('Patient'))).toBe(403);
    expect(await status(device.search('Observation'))).toBe(403);

    const devices = await device.search('Device', { _total: 'accurate', _include: 'Device:patient', _revinclude: 'Observation:device' });
    expect(devices.total).toBe(1);
    expect(devices.entry?.map((e) => e.resource?.resourceType)).toEqual(['Device']);

    // Devices link to Smith; a chain into Patient must not reveal that.
    expect((await device.searchResources('Device', { 'patient.name': 'Smith' })).length).toBe(0);
    expect((await device.searchResources('Device', { 'patient:Patient.name': 'Smith' })).length).toBe(0);
    // Observations of Smith exist, but the integrator may not search Observations: _has reveals nothing.
    expect((await device.searchResources('Device', { '_has:Observation:device:subject': `Patient/${smith.id}` })).length).toBe(0);

    const gql = await device.graphql(`{ PatientList(name: "Smith") { id } }`).catch((err) => ({ error: err }));
    expect(JSON.stringify(gql)).not.toContain(smith.id);
  });
});

describe('family member', () => {
  test("sees only their patient's encounters (without clinical detail) and messages to them", async () => {
    const family = await userClient('family-member', 'family@example.org', { patient: `Patient/${smith.id}` }, 'RelatedPerson');
    const me = await family.get('auth/me');
    await t.medplum.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      recipient: [{ reference: me.profile.resourceType + '/' + me.profile.id }],
      payload: [{ contentString: 'Ann is being seen by Dr. Osei.' }],
    });
    await t.medplum.createResource<Communication>({
      resourceType: 'Communication',
      status: 'completed',
      recipient: [{ reference: `Patient/${jones.id}` }],
      payload: [{ contentString: 'Not for the Smith family.' }],
    });
    const encounters = await family.searchResources('Encounter');
    expect(encounters.map((e) => e.id)).toEqual([encSmith.id]);
    expect(encounters[0].reasonCode).toBeUndefined();
    expect(await status(family.readResource('Encounter', encJones.id))).toBe(404);
    const messages = await family.searchResources('Communication');
    expect(messages.map((m) => m.payload?.[0]?.contentString)).toEqual(['Ann is being seen by Dr. Osei.']);
    expect(await status(family.search('Observation'))).toBe(403);
  });
});

describe('audit trail', () => {
  test('every read, search, create, update and delete leaves an AuditEvent', async () => {
    const nurse = await userClient('triage-nurse', 'nurse2@example.org');
    const me = await nurse.get('auth/me');
    const who = `Practitioner/${me.profile.id}`;
    const p = await nurse.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Audit' }] });
    await nurse.readResource('Patient', p.id as string);
    await nurse.updateResource<Patient>({ ...p, gender: 'other' } as Patient);
    await nurse.search('Patient', { name: 'Audit' });
    const events = await t.medplum.searchResources('AuditEvent', { agent: who, _count: '100' });
    const subtypes = events.map((e) => e.subtype?.[0]?.code).sort();
    expect(subtypes).toEqual(expect.arrayContaining(['create', 'read', 'update', 'search-type']));
    const read = events.find((e) => e.subtype?.[0]?.code === 'read') as AuditEvent;
    expect(read.entity?.[0]?.what?.reference).toBe(`Patient/${p.id}`);
    expect(read.outcome).toBe('0');
    expect(read.agent?.[0]?.network?.address).toBeTruthy();
  });

  test('nobody can update or delete AuditEvents through the API, not even an admin', async () => {
    const [event] = await t.medplum.searchResources('AuditEvent', { _count: '1' });
    expect(await status(t.medplum.updateResource({ ...event, outcomeDesc: 'tampered' }))).toBe(403);
    expect(await status(t.medplum.deleteResource('AuditEvent', event.id as string))).toBe(403);
  });
});
