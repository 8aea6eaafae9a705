import type { Bundle, Observation, Patient, Practitioner, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { SearchKit } from './search-test-kit.ts';

let t: TestServer;
let k: SearchKit;
let pages: SearchKit;

const SUBSETTED = 'SUBSETTED';

beforeAll(async () => {
  t = await startTestServer();
  k = new SearchKit(t, 'sorting');
  pages = new SearchKit(t, 'paging');
  // Created one after another, so _lastUpdated follows this order.
  await k.create<Patient>('alice', {
    resourceType: 'Patient',
    gender: 'female',
    birthDate: '1980-01-01',
    name: [{ family: 'Anders', given: ['Alice'] }],
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Alice Anders</div>' },
    maritalStatus: { text: 'married' },
    communication: [{ language: { text: 'English' } }],
  });
  await k.create<Patient>('bob', { resourceType: 'Patient', gender: 'male', birthDate: '1975-05-05', name: [{ family: 'Brown' }] });
  await k.create<Patient>('carol', { resourceType: 'Patient', gender: 'female', birthDate: '1990-09-09', name: [{ family: 'Clark' }] });
  await k.create<Patient>('dave', { resourceType: 'Patient', gender: 'male', name: [{ family: 'Davis' }] });
  await k.create<Practitioner>('drHouse', { resourceType: 'Practitioner', name: [{ family: 'House' }] });
  await k.create<Observation>('hr', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'Heart rate' },
    valueQuantity: { value: 80, unit: '/min' },
    note: [{ text: 'not a summary element' }],
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">HR 80</div>' },
  });
  for (let i = 0; i < 11; i++) {
    await pages.create<Patient>(`p${String(i).padStart(2, '0')}`, {
      resourceType: 'Patient',
      name: [{ family: `Page${String(i).padStart(2, '0')}` }],
    });
  }
});

afterAll(async () => {
  await t?.close();
});

function resourcesOf(bundle: Bundle): Resource[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Resource);
}

function link(bundle: Bundle, relation: string): string | undefined {
  return bundle.link?.find((l) => l.relation === relation)?.url;
}

describe('_sort', () => {
  test('by date, ascending and descending; resources without a value come last', async () => {
    expect(k.matchLabels(await k.search('Patient', '_sort=birthdate'))).toEqual(['bob', 'alice', 'carol', 'dave']);
    expect(k.matchLabels(await k.search('Patient', '_sort=-birthdate'))).toEqual(['carol', 'alice', 'bob', 'dave']);
  });

  test('by string and by token, with several keys', async () => {
    expect(k.matchLabels(await k.search('Patient', '_sort=-family'))).toEqual(['dave', 'carol', 'bob', 'alice']);
    expect(k.matchLabels(await k.search('Patient', '_sort=gender,-birthdate'))).toEqual(['carol', 'alice', 'bob', 'dave']);
    expect(k.matchLabels(await k.search('Patient', '_sort=-gender,family'))).toEqual(['bob', 'dave', 'alice', 'carol']);
  });

  test('by _lastUpdated and _id', async () => {
    expect(k.matchLabels(await k.search('Patient', '_sort=_lastUpdated'))).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(k.matchLabels(await k.search('Patient', '_sort=-_lastUpdated'))).toEqual(['dave', 'carol', 'bob', 'alice']);
    const byId = resourcesOf(await k.search('Patient', '_sort=-_id')).map((r) => r.id as string);
    expect(byId).toEqual([...byId].sort().reverse());
  });
});

describe('_id, _lastUpdated', () => {
  test('_id with one or several ids', async () => {
    expect(await k.labels('Patient', `_id=${k.id('alice')}`)).toEqual(['alice']);
    expect(await k.labels('Patient', `_id=${k.id('alice')},${k.id('bob')}`)).toEqual(['alice', 'bob']);
    expect(await k.labels('Patient', '_id=does-not-exist')).toEqual([]);
    expect(await k.labels('Patient', `_id=${k.id('drHouse')}`)).toEqual([]);
  });

  test('_lastUpdated with prefixes at millisecond precision', async () => {
    const all = resourcesOf(await k.search('Patient', '_sort=_lastUpdated'));
    const bob = all.find((r) => k.labelOf(r) === 'bob') as Resource;
    const at = bob.meta?.lastUpdated as string;
    expect(await k.labels('Patient', `_lastUpdated=${at}`)).toEqual(['bob']);
    expect(await k.labels('Patient', `_lastUpdated=lt${at}`)).toEqual(['alice']);
    expect(await k.labels('Patient', `_lastUpdated=le${at}`)).toEqual(['alice', 'bob']);
    expect(await k.labels('Patient', `_lastUpdated=gt${at}`)).toEqual(['carol', 'dave']);
    expect(await k.labels('Patient', `_lastUpdated=ge${at}`)).toEqual(['bob', 'carol', 'dave']);
    expect(await k.labels('Patient', `_lastUpdated=ne${at}`)).toEqual(['alice', 'carol', 'dave']);
    expect(await k.labels('Patient', '_lastUpdated=gt2000-01-01&_lastUpdated=lt2999')).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(await k.labels('Patient', '_lastUpdated=lt2000')).toEqual([]);
  });
});

describe('paging', () => {
  test('following next links returns every match exactly once, in order', async () => {
    let bundle = await pages.search('Patient', '_count=3&_sort=family');
    const seen: string[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const labels = pages.matchLabels(bundle);
      seen.push(...labels);
      sizes.push(labels.length);
      expect(link(bundle, 'self')).toBeTruthy();
      expect(link(bundle, 'first')).toBeTruthy();
      expect(!!link(bundle, 'previous')).toBe(i > 0);
      const next = link(bundle, 'next');
      if (!next) {
        break;
      }
      bundle = await t.medplum.get(next);
    }
    expect(sizes).toEqual([3, 3, 3, 2]);
    expect(seen).toEqual(Array.from({ length: 11 }, (_, i) => `p${String(i).padStart(2, '0')}`));
    // The last page knows the end of the result, so it reports the total for free.
    expect(bundle.total).toBe(11);
  });

  test('previous and first links go back', async () => {
    const third = await pages.search('Patient', '_count=4&_offset=8&_sort=-family');
    expect(pages.matchLabels(third)).toEqual(['p02', 'p01', 'p00']);
    const previous = await t.medplum.get(link(third, 'previous') as string);
    expect(pages.matchLabels(previous)).toEqual(['p06', 'p05', 'p04', 'p03']);
    const first = await t.medplum.get(link(third, 'first') as string);
    expect(pages.matchLabels(first)).toEqual(['p10', 'p09', 'p08', 'p07']);
  });

  test('links keep _summary and _elements', async () => {
    const bundle = await pages.search('Patient', '_count=5&_elements=name&_sort=family');
    const next: Bundle = await t.medplum.get(link(bundle, 'next') as string);
    const patient = resourcesOf(next)[0] as Patient;
    expect(Object.keys(patient).sort()).toEqual(['id', 'meta', 'name', 'resourceType']);
    const summaryPage = await pages.search('Patient', '_count=5&_summary=true');
    expect(link(summaryPage, 'next')).toContain('_summary=true');
  });
});

describe('_total', () => {
  test('accurate, estimate and none', async () => {
    expect((await pages.search('Patient', '_count=2')).total).toBeUndefined();
    expect((await pages.search('Patient', '_count=2&_total=accurate')).total).toBe(11);
    expect((await pages.search('Patient', '_count=2&_total=estimate')).total).toBe(11);
    expect((await pages.search('Patient', '_count=100&_total=none')).total).toBeUndefined();
    expect((await pages.search('Patient', '_count=2&_total=accurate&name=page1')).total).toBe(1);
    // Sorting binds values of its own, which the count must not be given.
    const sorted = await pages.search('Patient', '_count=2&_total=accurate&_sort=-family,birthdate');
    expect(sorted.total).toBe(11);
    expect(pages.matchLabels(sorted)).toEqual(['p10', 'p09']);
    expect((await pages.search('Patient', '_count=2&_total=estimate&_sort=family')).total).toBe(11);
  });

  test('_summary=count and _count=0 give only the total', async () => {
    const counted = await pages.search('Patient', '_summary=count');
    expect(counted.total).toBe(11);
    expect(counted.entry ?? []).toEqual([]);
    const zero = await pages.search('Patient', '_count=0&name=page0');
    expect(zero.total).toBe(10);
    expect(zero.entry ?? []).toEqual([]);
  });
});

describe('_summary and _elements', () => {
  test('_summary=true keeps the summary elements, choice types included', async () => {
    const [patient] = resourcesOf(await k.search('Patient', `_id=${k.id('alice')}&_summary=true`)) as Patient[];
    expect(patient.name?.[0]?.family).toBe('Anders');
    expect(patient.birthDate).toBe('1980-01-01');
    expect(patient.text).toBeUndefined();
    expect(patient.maritalStatus).toBeUndefined();
    expect(patient.communication).toBeUndefined();
    expect(patient.meta?.tag?.some((c) => c.code === SUBSETTED)).toBe(true);
    const [obs] = resourcesOf(await k.search('Observation', '_summary=true')) as Observation[];
    expect(obs.valueQuantity?.value).toBe(80);
    expect(obs.note).toBeUndefined();
  });

  test('_summary=data drops only the narrative; _summary=text keeps narrative and mandatory elements', async () => {
    const [data] = resourcesOf(await k.search('Patient', `_id=${k.id('alice')}&_summary=data`)) as Patient[];
    expect(data.text).toBeUndefined();
    expect(data.maritalStatus?.text).toBe('married');
    const [text] = resourcesOf(await k.search('Observation', '_summary=text')) as Observation[];
    expect(Object.keys(text).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'text']);
  });

  test('_elements returns the named elements only', async () => {
    const [patient] = resourcesOf(await k.search('Patient', `_id=${k.id('alice')}&_elements=gender,birthDate`)) as Patient[];
    expect(Object.keys(patient).sort()).toEqual(['birthDate', 'gender', 'id', 'meta', 'resourceType']);
    expect(patient.meta?.tag?.some((c) => c.code === SUBSETTED)).toBe(true);
    const [obs] = resourcesOf(await k.search('Observation', '_elements=value')) as Observation[];
    expect(Object.keys(obs).sort()).toEqual(['id', 'meta', 'resourceType', 'valueQuantity']);
  });

  test('a full search is not tagged SUBSETTED', async () => {
    const [patient] = resourcesOf(await k.search('Patient', `_id=${k.id('alice')}`)) as Patient[];
    expect(patient.meta?.tag?.some((c) => c.code === SUBSETTED)).toBe(false);
    expect(patient.communication?.length).toBe(1);
  });
});

describe('system search with _type', () => {
  async function systemLabels(query: string): Promise<string[]> {
    const bundle: Bundle = await t.medplum.get(`${t.fhirUrl}?${query}&_tag=${encodeURIComponent(k.tag)}&_count=100`);
    return k.matchLabels(bundle).sort();
  }

  test('searches several types at once', async () => {
    expect(await systemLabels('_type=Patient,Practitioner&name=alice,house')).toEqual(['alice', 'drHouse']);
    expect(await systemLabels('_type=Patient,Observation&_lastUpdated=gt2000-01-01')).toEqual(['alice', 'bob', 'carol', 'dave', 'hr']);
    expect(await systemLabels('_type=Patient,Observation&_sort=-_lastUpdated')).toEqual(['alice', 'bob', 'carol', 'dave', 'hr']);
  });

  test('a parameter only some of the types define restricts the search to those types', async () => {
    expect(await systemLabels('_type=Patient,Observation&gender=female')).toEqual(['alice', 'carol']);
    expect(await systemLabels('_type=Patient,Observation&birthdate=lt1985')).toEqual(['alice', 'bob']);
    expect(await systemLabels('_type=Patient,Observation&code:text=heart')).toEqual(['hr']);
  });
});

describe('POST _search', () => {
  test('a form-encoded body gives the same result as GET', async () => {
    const query = new URLSearchParams([
      ['gender', 'female'],
      ['birthdate', 'ge1980'],
      ['_sort', '-birthdate'],
      ['_tag', k.tag],
    ]);
    const get = await t.medplum.search('Patient', query);
    const post: Bundle = await t.medplum.post(`${t.fhirUrl}Patient/_search`, query.toString(), 'application/x-www-form-urlencoded');
    expect(k.matchLabels(post)).toEqual(['carol', 'alice']);
    expect(k.matchLabels(post)).toEqual(k.matchLabels(get));
    expect(post.total).toBe(get.total);
  });
});
