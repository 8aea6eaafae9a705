import type { Bundle, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { authHeaders, fetchJson, outcomeText, SearchKit } from './search-test-kit.ts';

let t: TestServer;
let k: SearchKit;
let clean: SearchKit;

const STRICT = { Prefer: 'handling=strict' };

beforeAll(async () => {
  t = await startTestServer();
  k = new SearchKit(t, 'bad-input');
  const patient = (label: string, family: string, identifier?: string) =>
    k.create<Patient>(label, {
      resourceType: 'Patient',
      name: [{ family }],
      identifier: identifier ? [{ system: 'urn:ids', value: identifier }] : undefined,
    });
  await patient('obrien', "O'Brien", "id'1");
  await patient('percent', '100%', '50%');
  await patient('thousand', '1000', '5000');
  await patient('underscore', 'a_b', 'x_y');
  await patient('axb', 'axb', 'xzy');
  await patient('backslash', 'back\\slash', 'c:\\dir');
  await patient('plain', 'Plain');
  // Data without any metacharacter, for the hostile-value sweep: nothing there may match.
  clean = new SearchKit(t, 'clean');
  const plain = await clean.create<Patient>('plain', {
    resourceType: 'Patient',
    name: [{ family: 'Plain' }],
    identifier: [{ value: 'P1' }],
  });
  await clean.create<Observation>('obs', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'plain text' },
    subject: { reference: `Patient/${plain.id}` },
    valueQuantity: { value: 1, unit: 'mg' },
  });
  await clean.create('vs', { resourceType: 'ValueSet', status: 'active', url: 'http://example.org/vs' });
  await k.create<Observation>('obs', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'x' },
    subject: { reference: k.ref('plain') },
    valueQuantity: { value: 1, unit: 'mg' },
  });
});

afterAll(async () => {
  await t?.close();
});

describe('unknown parameters', () => {
  test('lenient (default): ignored, and reported in an outcome entry', async () => {
    const bundle = await k.search('Patient', 'family=plain&nonsense=1&_bogus=2');
    expect(k.matchLabels(bundle)).toEqual(['plain']);
    const outcomes = (bundle.entry ?? []).filter((e) => e.search?.mode === 'outcome');
    expect(outcomes).toHaveLength(1);
    const text = outcomeText(outcomes[0].resource as OperationOutcome);
    expect(text).toContain('nonsense');
    expect(text).toContain('_bogus');
  });

  test('Prefer: handling=strict makes them a 400 naming the parameter', async () => {
    const res = await fetchJson(`${t.fhirUrl}Patient?family=plain&nonsense=1`, { headers: STRICT });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(outcomeText(res.body)).toContain('nonsense');
    await expect(t.medplum.search('Patient', 'nonsense=1', { headers: STRICT })).rejects.toThrow(/nonsense/);
    // Known parameters are fine in strict mode.
    expect(k.matchLabels(await k.search('Patient', 'family=plain', STRICT))).toEqual(['plain']);
  });

  test('strict and lenient in a multi-type search', async () => {
    const strict = await fetchJson(`${t.fhirUrl}?_type=Patient,Observation&nonsense=1`, { headers: STRICT });
    expect(strict.status).toBe(400);
    expect(outcomeText(strict.body)).toContain('nonsense');
    const lenient = await fetchJson(`${t.fhirUrl}?_type=Patient,Observation&nonsense=1&_tag=${encodeURIComponent(k.tag)}&_count=100`);
    expect(lenient.status).toBe(200);
    expect(k.matchLabels(lenient.body as Bundle)).toHaveLength(8);
    expect(lenient.body.entry.some((e: { search?: { mode?: string } }) => e.search?.mode === 'outcome')).toBe(true);
  });
});

describe('SQL and LIKE metacharacters are data, never syntax', () => {
  test('they match literally', async () => {
    expect(await k.labels('Patient', [['name', "o'brien"]])).toEqual(['obrien']);
    expect(await k.labels('Patient', [['name', '100%']])).toEqual(['percent']);
    expect(await k.labels('Patient', [['name', '10%']])).toEqual([]);
    expect(await k.labels('Patient', [['name', 'a_b']])).toEqual(['underscore']);
    expect(await k.labels('Patient', [['name', 'a_']])).toEqual(['underscore']);
    expect(await k.labels('Patient', [['name:contains', '%']])).toEqual(['percent']);
    expect(await k.labels('Patient', [['name:contains', '_']])).toEqual(['underscore']);
    expect(await k.labels('Patient', [['name', 'back\\slash']])).toEqual(['backslash']);
    expect(await k.labels('Patient', [['name:contains', '\\']])).toEqual(['backslash']);
    expect(await k.labels('Patient', [['name:exact', "O'Brien"]])).toEqual(['obrien']);
    expect(await k.labels('Patient', [['identifier', "urn:ids|id'1"]])).toEqual(['obrien']);
    expect(await k.labels('Patient', [['identifier', '50%']])).toEqual(['percent']);
    expect(await k.labels('Patient', [['identifier', 'x_y']])).toEqual(['underscore']);
    expect(await k.labels('Patient', [['identifier', 'c:\\dir']])).toEqual(['backslash']);
  });

  const hostile = [
    "'",
    "' OR 1=1 --",
    "' OR '1'='1",
    '%',
    '_',
    '\\',
    ';--',
    "'; DROP TABLE resource; --",
    '"',
    '$1',
    '{a}',
    '\u0000',
    'é%_\\',
  ];
  const params: [type: string, param: string][] = [
    ['Patient', 'name'],
    ['Patient', 'name:contains'],
    ['Patient', 'identifier'],
    ['Patient', 'gender'],
    ['Patient', '_tag'],
    ['Patient', 'general-practitioner'],
    ['Patient', 'general-practitioner:identifier'],
    ['Patient', 'general-practitioner:missing'],
    ['Observation', 'subject'],
    ['Observation', 'subject:Patient.name'],
    ['Observation', 'code:text'],
    ['Patient', '_has:Observation:subject:code'],
    ['Patient', '_id'],
    ['ValueSet', 'url'],
    ['ValueSet', 'url:below'],
    ['ValueSet', 'url:above'],
    ['Patient', 'birthdate'],
    ['Patient', '_lastUpdated'],
    ['RiskAssessment', 'probability'],
    ['Observation', 'value-quantity'],
    ['Patient', '_sort'],
    ['Patient', '_count'],
    ['Patient', '_elements'],
    ['Patient', '_include'],
    ['Patient', '_revinclude'],
    ['Patient', '_summary'],
  ];

  const skipsEmptyCheck = /:not|:missing|_sort|_count|_offset|_elements|_include|_revinclude|_total|_summary/;

  test.each(params)('%s?%s with hostile values answers 200 or 4xx, never 500', async (type, param) => {
    const values = hostile.flatMap((h) => [h, `Plain${h}`, `urn:x|${h},${h}`, `gt${h}`]);
    const responses = await Promise.all(
      values.map(async (value) => {
        const query = new URLSearchParams([
          [param, value],
          ['_tag', clean.tag],
        ]);
        const url = `${t.fhirUrl}${type}?${query}`;
        const res = await fetch(url, { headers: authHeaders(url) });
        return { value, status: res.status, body: await res.text() };
      }),
    );
    for (const { value, status, body } of responses) {
      const what = `${param}=${value} → ${status} ${body.slice(0, 300)}`;
      expect([200, 400], what).toContain(status);
      if (status === 200 && !skipsEmptyCheck.test(param)) {
        // Nothing in the clean data carries these values, so nothing may match.
        const bundle = JSON.parse(body) as Bundle;
        expect(
          (bundle.entry ?? []).filter((e) => e.search?.mode === 'match'),
          what,
        ).toEqual([]);
      }
    }
    // The data is still there afterwards.
    expect(await clean.labels('Patient', 'name=plain')).toEqual(['plain']);
  });
});

describe('invalid values are a 400 naming the parameter', () => {
  const cases: [query: string, names: string][] = [
    ['RiskAssessment?probability=abc', 'probability'],
    ['RiskAssessment?probability=1e999', 'probability'],
    ['RiskAssessment?probability=gt', 'probability'],
    ['Observation?value-quantity=lots|http://unitsofmeasure.org|mg', 'value-quantity'],
    ['Observation?value-quantity=1|a|b|c', 'value-quantity'],
    ['Observation?subject:Patient.birthdate=2024-13-45', 'birthdate'],
    ['Observation?subject:Patient.birthdate=yesterday', 'birthdate'],
    ['Patient?gender:missing=maybe', 'gender'],
    ['Patient?_count=abc', '_count'],
    ['Patient?_count=-1', '_count'],
    ['Patient?_offset=x', '_offset'],
    ['Patient?_sort=nonsense', 'nonsense'],
    ['Patient?_total=sometimes', '_total'],
    ['Patient?name:below=x', 'name'],
    ['Patient?gender:in=http://example.org/vs', 'gender'],
    ['Patient?_has:Observation=x', '_has:Observation'],
    ['Patient?_has=x', '_has'],
    ['Patient?_has:Observation:status:code=x', 'status'],
    ['Patient?_type=Nonsense', 'Nonsense'],
    ['?_type=Patient,Nonsense&name=x', 'Nonsense'],
  ];

  test.each(cases)('%s', async (query, names) => {
    const res = await fetchJson(`${t.fhirUrl}${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(outcomeText(res.body)).toContain(names);
  });

  test('invalid top-level dates are a 400', async () => {
    // Core's parser rejects these inside FhirRouter, before the repository sees them; its message
    // names the value, not the parameter (routes.ts, installSearchRoutes, fixes that).
    for (const [param, value] of [
      ['birthdate', '2024-13-45'],
      ['birthdate', 'yesterday'],
      ['birthdate', "2024' OR 1=1"],
      ['birthdate', '2024-02-30'],
      ['_lastUpdated', '2024-02-30'],
      ['_lastUpdated', 'soon'],
    ]) {
      const res = await fetchJson(`${t.fhirUrl}Patient?${new URLSearchParams([[param, value]])}`);
      expect(res.status, value).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(outcomeText(res.body)).toContain(value);
    }
  });

  test('an unknown resource type is not found', async () => {
    const res = await fetchJson(`${t.fhirUrl}Nonsense?name=x`);
    expect(res.status).toBe(404);
    expect(outcomeText(res.body)).toContain('Nonsense');
  });

  test('chains nested too deep are refused', async () => {
    const deep = 'subject:Patient.organization.partof.partof.partof.partof.name';
    const res = await fetchJson(`${t.fhirUrl}Observation?${deep}=x`);
    expect(res.status).toBe(400);
    expect(outcomeText(res.body)).toMatch(/nest/);
  });
});
