import type { Observation, Organization, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { SearchKit } from './search-test-kit.ts';

let t: TestServer;
let k: SearchKit;

const LOINC = 'http://loinc.org';

beforeAll(async () => {
  t = await startTestServer();
  k = new SearchKit(t, 'string-token');
  await k.create<Patient>('ann', {
    resourceType: 'Patient',
    active: true,
    gender: 'female',
    name: [{ family: 'Smith', given: ['Ann', 'Marie'] }],
    address: [{ line: ['12 Baker Street'], city: 'Zürich', postalCode: '8001', country: 'CH' }],
    identifier: [{ system: 'urn:mrn', value: 'MRN-001' }],
    telecom: [
      { system: 'email', value: 'Ann.Smith@Example.org' },
      { system: 'phone', value: '+41 44 123 45 67' },
    ],
  });
  await k.create<Patient>('bob', {
    resourceType: 'Patient',
    active: false,
    gender: 'male',
    name: [{ family: 'Smithers', given: ['Bob'] }],
    address: [{ city: 'Zurich', postalCode: '8002' }],
    identifier: [
      { system: 'urn:mrn', value: 'MRN-002' },
      { system: 'urn:other', value: 'MRN-001' },
    ],
    telecom: [{ system: 'phone', value: '555-0100' }],
  });
  await k.create<Patient>('eva', {
    resourceType: 'Patient',
    gender: 'other',
    name: [{ family: 'Blacksmith', given: ['Éva'] }],
    address: [{ city: 'Bern' }],
  });
  await k.create<Patient>('noname', { resourceType: 'Patient', birthDate: '1990-01-01' });
  await k.create<Patient>('nosystem', { resourceType: 'Patient', identifier: [{ value: 'MRN-003' }], name: [{ text: 'Dr. Who' }] });

  await k.create<Observation>('hr', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'Heart rate', coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
  });
  await k.create<Observation>('rr', {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '9279-1', display: 'Respiratory rate' }] },
  });
  await k.create<Observation>('local', {
    resourceType: 'Observation',
    status: 'preliminary',
    code: { coding: [{ system: 'urn:local', code: '8867-4' }] },
  });
  await k.create<Observation>('textonly', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'Pain score' },
  });
});

afterAll(async () => {
  await t?.close();
});

describe('string search', () => {
  test('default is a case-insensitive prefix match on any name part', async () => {
    expect(await k.labels('Patient', 'name=smith')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'name=SMI')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'family=smith')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'given=marie')).toEqual(['ann']);
    expect(await k.labels('Patient', 'name=dr. who')).toEqual(['nosystem']);
    expect(await k.labels('Patient', 'name=mith')).toEqual([]);
  });

  test('default match ignores accents in both the data and the search value', async () => {
    expect(await k.labels('Patient', 'name=eva')).toEqual(['eva']);
    expect(await k.labels('Patient', 'name=ÉVA')).toEqual(['eva']);
    expect(await k.labels('Patient', 'address-city=zurich')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'address-city=zür')).toEqual(['ann', 'bob']);
  });

  test(':exact compares the whole value, case and accents included', async () => {
    expect(await k.labels('Patient', 'name:exact=Smith')).toEqual(['ann']);
    expect(await k.labels('Patient', 'family:exact=smith')).toEqual([]);
    expect(await k.labels('Patient', 'family:exact=Smit')).toEqual([]);
    expect(await k.labels('Patient', 'address-city:exact=Zürich')).toEqual(['ann']);
    expect(await k.labels('Patient', 'address-city:exact=Zurich')).toEqual(['bob']);
  });

  test(':contains matches anywhere in the value', async () => {
    expect(await k.labels('Patient', 'name:contains=smith')).toEqual(['ann', 'bob', 'eva']);
    expect(await k.labels('Patient', 'family:contains=ITH')).toEqual(['ann', 'bob', 'eva']);
    expect(await k.labels('Patient', 'family:contains=ers')).toEqual(['bob']);
    expect(await k.labels('Patient', 'address:contains=baker')).toEqual(['ann']);
  });

  test('Address parts: line, city, postal code, country', async () => {
    expect(await k.labels('Patient', 'address=12 baker')).toEqual(['ann']);
    expect(await k.labels('Patient', 'address=800')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'address=bern')).toEqual(['eva']);
    expect(await k.labels('Patient', 'address-postalcode=8001')).toEqual(['ann']);
    expect(await k.labels('Patient', 'address-country=ch')).toEqual(['ann']);
    expect(await k.labels('Patient', 'address=baker')).toEqual([]);
  });

  test('OR within one parameter and AND across repetitions', async () => {
    expect(await k.labels('Patient', 'family=smithers,blacksmith')).toEqual(['bob', 'eva']);
    expect(await k.labels('Patient', 'given=ann&given=marie')).toEqual(['ann']);
    expect(await k.labels('Patient', 'given=ann&given=bob')).toEqual([]);
  });

  test("phonetic searches the names (it shares name's index rows), with modifiers, :missing and _sort", async () => {
    expect(await k.labels('Patient', 'phonetic=smith')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'phonetic=éva')).toEqual(['eva']);
    expect(await k.labels('Patient', 'phonetic:exact=Smith')).toEqual(['ann']);
    expect(await k.labels('Patient', 'phonetic:contains=smith')).toEqual(['ann', 'bob', 'eva']);
    expect(await k.labels('Patient', 'phonetic=dr. who')).toEqual(['nosystem']);
    expect(await k.labels('Patient', 'phonetic:missing=true')).toEqual(['noname']);
    expect(await k.labels('Patient', 'phonetic:missing=false')).toEqual(['ann', 'bob', 'eva', 'nosystem']);
    expect(await k.labels('Patient', '_filter=phonetic sw "smi"')).toEqual(['ann', 'bob']);
    const sorted = await k.search('Patient', 'phonetic=smith,blacksmith&_sort=-phonetic');
    expect(k.matchLabels(sorted)).toEqual(['bob', 'ann', 'eva']);
  });

  test(':missing on a string parameter', async () => {
    expect(await k.labels('Patient', 'family:missing=true')).toEqual(['noname', 'nosystem']);
    expect(await k.labels('Patient', 'family:missing=false')).toEqual(['ann', 'bob', 'eva']);
  });

  test('a prefix is matched literally, up to the range bound, beyond ASCII too', async () => {
    // Prefix searches are index ranges [prefix, next string) (prefix-range.ts): % and _ are plain
    // characters, the value one past the range ('smiu' for 'smit') is outside, and the bound of
    // a non-ASCII last character is computed on code points.
    const orgs: [label: string, name: string][] = [
      ['underscore', 'Acme_Care'],
      ['acmex', 'AcmeXCare'],
      ['percent', '100% Care'],
      ['thousand', '1000 Oaks Care'],
      ['smith', 'Smith Clinic'],
      ['smiu', 'Smiu Clinic'],
      ['omega', 'Ωmega Health'],
      ['emoji', 'Care 😀 Point'],
      ['emoji2', 'Care 😁 Point'],
    ];
    for (const [label, name] of orgs) {
      await k.create<Organization>(label, { resourceType: 'Organization', name });
    }
    expect(await k.labels('Organization', 'name=acme_')).toEqual(['underscore']);
    expect(await k.labels('Organization', 'name=acme')).toEqual(['acmex', 'underscore']);
    expect(await k.labels('Organization', 'name=100%')).toEqual(['percent']);
    expect(await k.labels('Organization', 'name=100')).toEqual(['percent', 'thousand']);
    expect(await k.labels('Organization', 'name=smit')).toEqual(['smith']);
    expect(await k.labels('Organization', 'name=smiu')).toEqual(['smiu']);
    expect(await k.labels('Organization', 'name=ω')).toEqual(['omega']);
    expect(await k.labels('Organization', 'name=care 😀')).toEqual(['emoji']);
    expect(await k.labels('Organization', 'name=smit,100%')).toEqual(['percent', 'smith']);
  });
});

describe('token search', () => {
  test('identifier: system|code, code, |code and system|', async () => {
    expect(await k.labels('Patient', 'identifier=urn:mrn|MRN-001')).toEqual(['ann']);
    expect(await k.labels('Patient', 'identifier=MRN-001')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'identifier=|MRN-003')).toEqual(['nosystem']);
    expect(await k.labels('Patient', 'identifier=|MRN-001')).toEqual([]);
    expect(await k.labels('Patient', 'identifier=urn:other|')).toEqual(['bob']);
    expect(await k.labels('Patient', 'identifier=urn:mrn|')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'identifier=urn:mrn|mrn-001')).toEqual([]);
  });

  test(':not excludes resources with the value, keeping those without any', async () => {
    expect(await k.labels('Patient', 'identifier:not=urn:mrn|MRN-001')).toEqual(['bob', 'eva', 'noname', 'nosystem']);
    expect(await k.labels('Patient', 'gender:not=female')).toEqual(['bob', 'eva', 'noname', 'nosystem']);
    expect(await k.labels('Patient', 'gender:not=female,male')).toEqual(['eva', 'noname', 'nosystem']);
  });

  test(':missing=true|false', async () => {
    expect(await k.labels('Patient', 'identifier:missing=true')).toEqual(['eva', 'noname']);
    expect(await k.labels('Patient', 'identifier:missing=false')).toEqual(['ann', 'bob', 'nosystem']);
    expect(await k.labels('Patient', 'active:missing=true')).toEqual(['eva', 'noname', 'nosystem']);
    // A code that has only text still counts as present.
    expect(await k.labels('Observation', 'code:missing=false')).toEqual(['hr', 'local', 'rr', 'textonly']);
    expect(await k.labels('Observation', 'code:missing=true')).toEqual([]);
  });

  test('codes (enum) and booleans', async () => {
    expect(await k.labels('Patient', 'gender=female')).toEqual(['ann']);
    expect(await k.labels('Patient', 'gender=female,male')).toEqual(['ann', 'bob']);
    expect(await k.labels('Patient', 'active=true')).toEqual(['ann']);
    expect(await k.labels('Patient', 'active=false')).toEqual(['bob']);
  });

  test('CodeableConcept codings with and without system', async () => {
    expect(await k.labels('Observation', `code=${LOINC}|8867-4`)).toEqual(['hr']);
    expect(await k.labels('Observation', 'code=8867-4')).toEqual(['hr', 'local']);
    expect(await k.labels('Observation', `code=${LOINC}|`)).toEqual(['hr', 'rr']);
    expect(await k.labels('Observation', `code=${LOINC}|8867-4,${LOINC}|9279-1`)).toEqual(['hr', 'rr']);
    expect(await k.labels('Observation', `code:not=${LOINC}|8867-4`)).toEqual(['local', 'rr', 'textonly']);
    expect(await k.labels('Observation', 'status=final&code=8867-4')).toEqual(['hr']);
  });

  test(':text searches CodeableConcept.text and Coding.display', async () => {
    expect(await k.labels('Observation', 'code:text=heart')).toEqual(['hr']);
    expect(await k.labels('Observation', 'code:text=RATE')).toEqual(['hr', 'rr']);
    expect(await k.labels('Observation', 'code:text=pain')).toEqual(['textonly']);
    expect(await k.labels('Observation', 'code:text=8867')).toEqual([]);
  });

  test('ContactPoint: email and phone', async () => {
    expect(await k.labels('Patient', [['email', 'ann.smith@example.org']])).toEqual(['ann']);
    // Email addresses are case-insensitive.
    expect(await k.labels('Patient', [['email', 'Ann.Smith@EXAMPLE.org']])).toEqual(['ann']);
    expect(await k.labels('Patient', [['phone', '+41 44 123 45 67']])).toEqual(['ann']);
    expect(await k.labels('Patient', [['phone', '555-0100']])).toEqual(['bob']);
    expect(await k.labels('Patient', [['telecom', '555-0100']])).toEqual(['bob']);
    expect(await k.labels('Patient', [['email', '555-0100']])).toEqual([]);
    expect(await k.labels('Patient', [['phone', 'ann.smith@example.org']])).toEqual([]);
  });

  test('_tag and _security on meta', async () => {
    const flagged = await k.create<Patient>('flagged', {
      resourceType: 'Patient',
      meta: {
        tag: [{ system: 'urn:flags', code: 'vip' }],
        security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
      },
    });
    expect(flagged.meta?.tag?.length).toBe(2);
    expect(await k.labels('Patient', 'active:missing=true&_tag=urn:flags|vip')).toEqual(['flagged']);
    expect(await k.labels('Patient', '_tag=vip')).toEqual(['flagged']);
    expect(await k.labels('Patient', '_tag=urn:flags|other')).toEqual([]);
    expect(await k.labels('Patient', '_security=R')).toEqual(['flagged']);
    await t.medplum.deleteResource('Patient', flagged.id);
    expect(await k.labels('Patient', '_tag=urn:flags|vip')).toEqual([]);
  });
});
