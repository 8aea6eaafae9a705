import { normalizeErrorString } from '@medplum/core';
import type { Observation, StructureDefinition } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

const ES = 'https://emergisphere.dev/fhir';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

const esi = (extra: Partial<Observation>): Observation => ({
  resourceType: 'Observation',
  meta: { profile: [`${ES}/StructureDefinition/esi-observation`] },
  status: 'final',
  code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
  subject: { reference: 'Patient/00000000-0000-4000-8000-000000000001' },
  encounter: { reference: 'Encounter/00000000-0000-4000-8000-000000000002' },
  effectiveDateTime: '2026-12-02T10:00:00Z',
  valueCodeableConcept: { coding: [{ system: `${ES}/CodeSystem/esi`, code: '3' }] },
  method: { coding: [{ system: `${ES}/CodeSystem/observation-method`, code: 'rules' }] },
  note: [{ text: 'ESI 3: two or more resources expected' }],
  ...extra,
});

test('the profiles are served as StructureDefinitions', async () => {
  const found = await t.medplum.searchResources('StructureDefinition', { url: `${ES}/StructureDefinition/esi-observation` });
  expect(found).toHaveLength(1);
  expect((found[0] as StructureDefinition).snapshot?.element?.length).toBeGreaterThan(40);
});

test('a write that names a profile is validated against it: 400 with the failing paths, nothing stored', async () => {
  expect((await t.medplum.createResource(esi({}))).id).toBeDefined();
  const before = (await t.medplum.search('Observation', { _summary: 'count', _total: 'accurate' }, { cache: 'no-cache' })).total;
  const bad = esi({ method: undefined, valueCodeableConcept: { coding: [{ system: `${ES}/CodeSystem/esi`, code: '9' }] } });
  const err = await t.medplum.createResource(bad).then(
    () => undefined,
    (e: unknown) => e,
  );
  const text = normalizeErrorString(err);
  expect(text).toMatch(/Observation\.method/);
  expect(text).toMatch(/"9" is not in the required value set/);
  expect((err as { outcome?: { issue?: { expression?: string[] }[] } }).outcome?.issue?.some((i) => i.expression?.length)).toBe(true);
  const after = (await t.medplum.search('Observation', { _summary: 'count', _total: 'accurate' }, { cache: 'no-cache' })).total;
  expect(after).toBe(before);
});
