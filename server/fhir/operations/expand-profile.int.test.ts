import { isProfileLoaded } from '@medplum/core';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { fetchJson, outcomeText } from '../search/search-test-kit.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.close());

const EXT_URL = 'https://emergisphere.test/StructureDefinition/arrival-mode-ext';
const PROFILE_URL = 'https://emergisphere.test/StructureDefinition/patient-with-arrival';

function extension(): StructureDefinition {
  return {
    resourceType: 'StructureDefinition',
    url: EXT_URL,
    name: 'ArrivalModeExt',
    status: 'active',
    kind: 'complex-type',
    abstract: false,
    type: 'Extension',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
    derivation: 'constraint',
    context: [{ type: 'element', expression: 'Patient' }],
    snapshot: {
      element: [
        { id: 'Extension', definition: 'x', base: { path: 'Extension', min: 0, max: '*' }, path: 'Extension', min: 0, max: '*' },
        {
          id: 'Extension.url',
          definition: 'x',
          base: { path: 'Extension.url', min: 0, max: '*' },
          path: 'Extension.url',
          min: 1,
          max: '1',
          type: [{ code: 'uri' }],
          fixedUri: EXT_URL,
        },
        {
          id: 'Extension.value[x]',
          definition: 'x',
          base: { path: 'Extension.value[x]', min: 0, max: '*' },
          path: 'Extension.value[x]',
          min: 0,
          max: '1',
          type: [{ code: 'string' }],
        },
      ],
    },
  };
}

function profile(): StructureDefinition {
  return {
    resourceType: 'StructureDefinition',
    url: PROFILE_URL,
    name: 'PatientWithArrival',
    status: 'active',
    kind: 'resource',
    abstract: false,
    type: 'Patient',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
    derivation: 'constraint',
    snapshot: {
      element: [
        { id: 'Patient', definition: 'x', base: { path: 'Patient', min: 0, max: '*' }, path: 'Patient', min: 0, max: '*' },
        {
          id: 'Patient.extension',
          definition: 'Extensions',
          base: { path: 'Patient.extension', min: 0, max: '*' },
          path: 'Patient.extension',
          slicing: { discriminator: [{ type: 'value', path: 'url' }], rules: 'open' },
          min: 0,
          max: '*',
          type: [{ code: 'Extension' }],
        },
        {
          id: 'Patient.extension:arrival',
          definition: 'Arrival mode',
          base: { path: 'Patient.extension', min: 0, max: '*' },
          path: 'Patient.extension',
          sliceName: 'arrival',
          min: 0,
          max: '1',
          type: [{ code: 'Extension', profile: [EXT_URL] }],
        },
        {
          id: 'Patient.name',
          definition: 'x',
          base: { path: 'Patient.name', min: 0, max: '*' },
          path: 'Patient.name',
          min: 1,
          max: '*',
          type: [{ code: 'HumanName' }],
        },
      ],
    },
  };
}

describe('StructureDefinition/$expand-profile', () => {
  test('a stored profile with the extension profile it references; MedplumClient.requestProfileSchema loads both', async () => {
    await t.medplum.createResource(extension());
    await t.medplum.createResource(profile());
    const url = t.medplum.fhirUrl('StructureDefinition', '$expand-profile');
    url.search = new URLSearchParams({ url: PROFILE_URL }).toString();
    const bundle = await t.medplum.post<Bundle<StructureDefinition>>(url, {});
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry?.map((e) => e.resource?.url).sort()).toEqual([EXT_URL, PROFILE_URL]);

    await t.medplum.requestProfileSchema(PROFILE_URL, { expandProfile: true });
    expect(isProfileLoaded(PROFILE_URL)).toBe(true);
    expect(isProfileLoaded(EXT_URL)).toBe(true);
  });

  test('a profile shipped in fhir-profiles/ (GET), base datatypes it names left out', async () => {
    const url = 'https://emergisphere.dev/fhir/StructureDefinition/esi-observation';
    const res = await fetchJson(`${t.fhirUrl}StructureDefinition/$expand-profile?url=${encodeURIComponent(url)}`);
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: { resource: StructureDefinition }) => e.resource.url)).toEqual([url]);
    expect(res.body.entry[0].resource.snapshot.element.length).toBeGreaterThan(0);
  });

  test('missing url → 400, unknown profile → 404', async () => {
    const missing = await fetchJson(`${t.fhirUrl}StructureDefinition/$expand-profile`);
    expect(missing.status).toBe(400);
    expect(outcomeText(missing.body)).toContain('url');
    const unknown = await fetchJson(`${t.fhirUrl}StructureDefinition/$expand-profile?url=https://nowhere.test/sd`);
    expect(unknown.status).toBe(404);
  });
});
