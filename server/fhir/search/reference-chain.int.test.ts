import { parseSearchRequest } from '@medplum/core';
import type { Encounter, Group, Observation, Organization, Patient, Practitioner, Provenance } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { executeSearch, type SearchRestriction } from './execute.ts';
import { fetchJson, outcomeText, SearchKit } from './search-test-kit.ts';

let t: TestServer;
let k: SearchKit;

const LOINC = 'http://loinc.org';

function observation(code: string, status: Observation['status'], extra: Partial<Observation> = {}): Observation {
  return { resourceType: 'Observation', status, code: { coding: [{ system: LOINC, code }] }, ...extra };
}

beforeAll(async () => {
  t = await startTestServer();
  k = new SearchKit(t, 'references');
  await k.create<Organization>('orgA', {
    resourceType: 'Organization',
    name: 'General Hospital',
    identifier: [{ system: 'urn:org', value: 'A' }],
  });
  await k.create<Organization>('orgB', {
    resourceType: 'Organization',
    name: 'County Clinic',
    identifier: [{ system: 'urn:org', value: 'B' }],
  });
  await k.create<Practitioner>('drX', { resourceType: 'Practitioner', name: [{ family: 'House', given: ['Gregory'] }] });
  await k.create<Patient>('alice', {
    resourceType: 'Patient',
    name: [{ family: 'Anders', given: ['Alice'] }],
    birthDate: '1980-01-01',
    managingOrganization: { reference: k.ref('orgA') },
    generalPractitioner: [{ reference: k.ref('drX') }],
  });
  await k.create<Patient>('bob', {
    resourceType: 'Patient',
    name: [{ family: 'Brown', given: ['Bob'] }],
    birthDate: '1975-05-05',
    managingOrganization: { reference: k.ref('orgB') },
  });
  await k.create<Patient>('carol', {
    resourceType: 'Patient',
    name: [{ family: 'Clark', given: ['Carol'] }],
    birthDate: '1990-09-09',
    managingOrganization: { reference: k.ref('orgA') },
  });
  await k.create<Group>('group', { resourceType: 'Group', type: 'person', actual: true, name: 'Alice fan club' });
  await k.create<Encounter>('encA', {
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: k.ref('alice') },
  });
  await k.create(
    'obsA1',
    observation('8867-4', 'final', { subject: { reference: k.ref('alice') }, encounter: { reference: k.ref('encA') } }),
  );
  await k.create('obsA2', observation('9279-1', 'preliminary', { subject: { reference: k.ref('alice') } }));
  await k.create('obsB1', observation('8867-4', 'final', { subject: { reference: k.ref('bob') } }));
  await k.create('obsC1', observation('8310-5', 'final', { subject: { reference: k.ref('carol') } }));
  await k.create('obsNoSubject', observation('8867-4', 'final'));
  await k.create('obsLogical', observation('2708-6', 'final', { subject: { identifier: { system: 'urn:mrn', value: 'MRN-9' } } }));
  await k.create('obsGroup', observation('2708-6', 'final', { subject: { reference: k.ref('group') } }));
  await k.create('obsRemote', observation('2708-6', 'final', { subject: { reference: 'http://other.example.org/fhir/Patient/1' } }));
  await k.create<Provenance>('prov', {
    resourceType: 'Provenance',
    target: [{ reference: k.ref('obsA1') }],
    recorded: '2024-01-01T10:00:00Z',
    agent: [{ who: { reference: k.ref('drX') } }],
  });
});

afterAll(async () => {
  await t?.close();
});

describe('reference search', () => {
  test('Type/id, bare id, and this server’s absolute URL', async () => {
    expect(await k.labels('Observation', `subject=${k.ref('alice')}`)).toEqual(['obsA1', 'obsA2']);
    expect(await k.labels('Observation', `subject=${k.id('alice')}`)).toEqual(['obsA1', 'obsA2']);
    expect(await k.labels('Observation', `patient=${k.id('alice')}`)).toEqual(['obsA1', 'obsA2']);
    expect(await k.labels('Observation', `subject=${t.fhirUrl}${k.ref('alice')}`)).toEqual(['obsA1', 'obsA2']);
    expect(await k.labels('Observation', `subject=${k.ref('bob')},${k.ref('carol')}`)).toEqual(['obsB1', 'obsC1']);
    expect(await k.labels('Observation', `subject=${k.ref('group')}`)).toEqual(['obsGroup']);
    // The right id under the wrong type is not a match.
    expect(await k.labels('Observation', `subject=Group/${k.id('alice')}`)).toEqual([]);
    expect(await k.labels('Observation', 'subject=http://other.example.org/fhir/Patient/1')).toEqual(['obsRemote']);
    expect(await k.labels('Observation', `patient=${k.ref('group')}`)).toEqual([]);
  });

  test(':identifier and :missing', async () => {
    expect(await k.labels('Observation', 'subject:identifier=urn:mrn|MRN-9')).toEqual(['obsLogical']);
    expect(await k.labels('Observation', 'subject:identifier=urn:mrn|MRN-1')).toEqual([]);
    expect(await k.labels('Observation', 'subject:missing=true')).toEqual(['obsNoSubject']);
    expect(await k.labels('Observation', 'subject:missing=false')).toEqual(
      ['obsA1', 'obsA2', 'obsB1', 'obsC1', 'obsGroup', 'obsLogical', 'obsRemote'].sort(),
    );
    expect(await k.labels('Patient', 'general-practitioner:missing=false')).toEqual(['alice']);
  });
});

describe('chained parameters', () => {
  test('typed and untyped one-level chains', async () => {
    expect(await k.labels('Observation', 'subject:Patient.name=alice')).toEqual(['obsA1', 'obsA2']);
    expect(await k.labels('Observation', 'subject.name=bob')).toEqual(['obsB1']);
    expect(await k.labels('Observation', 'subject.name=alice')).toEqual(['obsA1', 'obsA2', 'obsGroup']);
    expect(await k.labels('Observation', 'subject:Patient.name:exact=Alice')).toEqual(['obsA1', 'obsA2']);
    expect(await k.labels('Observation', 'subject:Patient.birthdate=gt1985')).toEqual(['obsC1']);
    expect(await k.labels('Observation', 'subject:Patient.name=nobody')).toEqual([]);
  });

  test('two-level chains', async () => {
    expect(await k.labels('Observation', 'subject:Patient.organization.name=general')).toEqual(['obsA1', 'obsA2', 'obsC1']);
    expect(await k.labels('Observation', 'patient.organization:Organization.identifier=urn:org|B')).toEqual(['obsB1']);
    expect(await k.labels('Encounter', 'subject:Patient.general-practitioner.name=house')).toEqual(['encA']);
    expect(await k.labels('Encounter', 'subject:Patient.general-practitioner.name=cuddy')).toEqual([]);
  });

  test('a chain through a parameter that is not a reference is a 400 naming it', async () => {
    const res = await fetchJson(`${t.fhirUrl}Observation?status.name=x`);
    expect(res.status).toBe(400);
    expect(outcomeText(res.body)).toContain('status');
    const res2 = await fetchJson(`${t.fhirUrl}Observation?subject:Patient.nonsense=x`);
    expect(res2.status).toBe(400);
    expect(outcomeText(res2.body)).toContain('nonsense');
  });
});

describe('reverse chaining (_has)', () => {
  test('one level', async () => {
    expect(await k.labels('Patient', '_has:Observation:subject:code=8867-4')).toEqual(['alice', 'bob']);
    expect(await k.labels('Patient', `_has:Observation:patient:code=${LOINC}|9279-1`)).toEqual(['alice']);
    expect(await k.labels('Practitioner', '_has:Patient:general-practitioner:name=alice')).toEqual(['drX']);
    expect(await k.labels('Patient', '_has:Observation:subject:code=0000-0')).toEqual([]);
  });

  test('several _has are ANDed, each may be met by a different resource', async () => {
    expect(await k.labels('Patient', '_has:Observation:subject:status=final&_has:Observation:subject:code=9279-1')).toEqual(['alice']);
    expect(await k.labels('Patient', '_has:Observation:subject:status=preliminary&_has:Observation:subject:code=8310-5')).toEqual([]);
  });

  test('nested _has', async () => {
    expect(await k.labels('Patient', `_has:Observation:patient:_has:Provenance:target:agent=${k.ref('drX')}`)).toEqual(['alice']);
    expect(await k.labels('Patient', `_has:Observation:patient:_has:Provenance:target:agent=Practitioner/nobody`)).toEqual([]);
  });
});

describe('_include and _revinclude', () => {
  test('_include adds referenced resources as include entries', async () => {
    const bundle = await k.search('Observation', 'code=8867-4&_include=Observation:patient');
    expect(k.matchLabels(bundle).sort()).toEqual(['obsA1', 'obsB1', 'obsNoSubject']);
    expect(k.includeLabels(bundle)).toEqual(['alice', 'bob']);
  });

  test('_include:iterate follows the included resources', async () => {
    const bundle = await k.search('Observation', `_id=${k.id('obsA1')}&_include=Observation:patient&_include:iterate=Patient:organization`);
    expect(k.matchLabels(bundle)).toEqual(['obsA1']);
    expect(k.includeLabels(bundle)).toEqual(['alice', 'orgA']);
    const noIterate = await k.search('Observation', `_id=${k.id('obsA1')}&_include=Observation:patient&_include=Patient:organization`);
    expect(k.includeLabels(noIterate)).toEqual(['alice']);
  });

  test('_include with a target type', async () => {
    const bundle = await k.search('Observation', 'code=2708-6&_include=Observation:subject:Group');
    expect(k.includeLabels(bundle)).toEqual(['group']);
  });

  test('_revinclude adds the resources that refer to the matches', async () => {
    const bundle = await k.search('Patient', `_id=${k.id('alice')}&_revinclude=Observation:subject`);
    expect(k.matchLabels(bundle)).toEqual(['alice']);
    expect(k.includeLabels(bundle)).toEqual(['obsA1', 'obsA2']);
  });

  test('_revinclude:iterate', async () => {
    const bundle = await k.search(
      'Organization',
      `_id=${k.id('orgA')}&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject`,
    );
    expect(k.matchLabels(bundle)).toEqual(['orgA']);
    expect(k.includeLabels(bundle)).toEqual(['alice', 'carol', 'obsA1', 'obsA2', 'obsC1']);
    const noIterate = await k.search(
      'Organization',
      `_id=${k.id('orgA')}&_revinclude=Patient:organization&_revinclude=Observation:subject`,
    );
    expect(k.includeLabels(noIterate)).toEqual(['alice', 'carol']);
    const mixed = await k.search('Patient', `_id=${k.id('alice')}&_revinclude=Encounter:subject&_revinclude:iterate=Observation:encounter`);
    expect(k.includeLabels(mixed)).toEqual(['encA', 'obsA1']);
  });

  test('an unknown include parameter is a 400', async () => {
    const res = await fetchJson(`${t.fhirUrl}Observation?_include=Observation:nonsense`);
    expect(res.status).toBe(400);
    expect(outcomeText(res.body)).toContain('nonsense');
  });
});

describe('a search restriction (the hook an AccessPolicy uses)', () => {
  // The caller may not see Alice; everything else is visible.
  const hideAlice: SearchRestriction = (type, params, idExpr) =>
    type === 'Patient' ? `${idExpr} <> ${params.add(k.id('alice'))}` : undefined;

  async function restricted(query: string): Promise<{ labels: string[]; total?: number }> {
    const request = parseSearchRequest(`${query}&_tag=${encodeURIComponent(k.tag)}&_total=accurate`);
    const bundle = await executeSearch(t.server.app.repo(), request, undefined, hideAlice);
    return { labels: k.matchLabels(bundle).sort(), total: bundle.total };
  }

  test('limits the matches and the total', async () => {
    expect(await restricted('Patient?_count=1&_sort=family')).toEqual({ labels: ['bob'], total: 2 });
    expect(await restricted('Patient?birthdate=lt2000')).toEqual({ labels: ['bob', 'carol'], total: 2 });
  });

  test('applies to chain targets and _has sources, so they reveal nothing hidden', async () => {
    expect((await restricted('Observation?subject:Patient.name=alice')).labels).toEqual([]);
    expect((await restricted('Observation?subject:Patient.organization.name=general')).labels).toEqual(['obsC1']);
    expect((await restricted('Organization?_has:Patient:organization:name=alice')).labels).toEqual([]);
    expect((await restricted('Organization?_has:Patient:organization:name=carol')).labels).toEqual(['orgA']);
    // Unrestricted, the same searches do find Alice's resources.
    expect(await k.labels('Observation', 'subject:Patient.name=alice')).toEqual(['obsA1', 'obsA2']);
  });
});
