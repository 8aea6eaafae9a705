import type { CodeSystem, Parameters, ValueSet } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { fetchJson, outcomeText } from '../search/search-test-kit.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.close());

const GENDER = 'http://hl7.org/fhir/ValueSet/administrative-gender';
const ESI = 'https://emergisphere.dev/fhir/ValueSet/esi';

function param(p: Parameters, name: string) {
  return p.parameter?.filter((x) => x.name === name) ?? [];
}

describe('ValueSet/$expand', () => {
  test('a base R4 value set through MedplumClient.valueSetExpand, with displays', async () => {
    const vs = await t.medplum.valueSetExpand({ url: GENDER, count: 100 });
    expect(vs.resourceType).toBe('ValueSet');
    expect(vs.url).toBe(GENDER);
    expect(vs.expansion?.total).toBe(4);
    expect(vs.expansion?.contains?.map((c) => c.code)).toEqual(['male', 'female', 'other', 'unknown']);
    expect(vs.expansion?.contains?.[0]).toEqual({ system: 'http://hl7.org/fhir/administrative-gender', code: 'male', display: 'Male' });
  });

  test('our own value set from fhir-profiles, filter on display and on code', async () => {
    const all = await t.medplum.valueSetExpand({ url: ESI, count: 100 });
    expect(all.expansion?.contains?.map((c) => c.code)).toEqual(['1', '2', '3', '4', '5']);
    const emergent = await t.medplum.valueSetExpand({ url: ESI, filter: 'EMERGENT' });
    expect(emergent.expansion?.contains?.map((c) => c.display)).toEqual(['ESI 2 - Emergent']);
    const byCode = await t.medplum.valueSetExpand({ url: GENDER, filter: 'unk' });
    expect(byCode.expansion?.contains?.map((c) => c.code)).toEqual(['unknown']);
  });

  test('count and offset page through the expansion; total counts all matches', async () => {
    const page = await t.medplum.valueSetExpand({ url: GENDER, count: 2, offset: 1 });
    expect(page.expansion?.total).toBe(4);
    expect(page.expansion?.offset).toBe(1);
    expect(page.expansion?.contains?.map((c) => c.code)).toEqual(['female', 'other']);
    const dflt = await t.medplum.valueSetExpand({ url: 'http://hl7.org/fhir/ValueSet/observation-status' });
    expect(dflt.expansion?.contains).toHaveLength(8);
  });

  test('POST with Parameters, and a stored ValueSet that takes precedence', async () => {
    const url = 'https://emergisphere.test/ValueSet/expand-test';
    await t.medplum.createResource<ValueSet>({
      resourceType: 'ValueSet',
      url,
      status: 'active',
      compose: {
        include: [
          { system: 'https://emergisphere.dev/fhir/CodeSystem/esi', concept: [{ code: '1' }, { code: '2', display: 'Two (local)' }] },
          { valueSet: [GENDER] },
        ],
        exclude: [{ system: 'http://hl7.org/fhir/administrative-gender', concept: [{ code: 'other' }] }],
      },
    });
    const res = await t.medplum.post<ValueSet>(t.medplum.fhirUrl('ValueSet', '$expand'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'url', valueUri: url },
        { name: 'count', valueInteger: 50 },
      ],
    });
    expect(res.expansion?.contains?.map((c) => `${c.code}:${c.display}`)).toEqual([
      '1:ESI 1 - Resuscitation',
      '2:Two (local)',
      'male:Male',
      'female:Female',
      'unknown:Unknown',
    ]);
  });

  test('errors are 400 OperationOutcomes', async () => {
    const cases: [string, string][] = [
      ['ValueSet/$expand', 'url'],
      ['ValueSet/$expand?url=http://nowhere.test/vs', 'not found'],
      [`ValueSet/$expand?url=${GENDER}&count=abc`, 'count'],
      ['ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/mimetypes', 'urn:ietf:bcp:13'],
    ];
    for (const [path, text] of cases) {
      const res = await fetchJson(`${t.fhirUrl}${path}`);
      expect(res.status, path).toBe(400);
      expect(outcomeText(res.body), path).toContain(text);
    }
  });
});

describe('CodeSystem/$lookup', () => {
  test('system + code → name, display, definition; GET and POST', async () => {
    const url = t.medplum.fhirUrl('CodeSystem', '$lookup');
    url.search = new URLSearchParams({ system: 'https://emergisphere.dev/fhir/CodeSystem/esi', code: '2' }).toString();
    const res = await t.medplum.get<Parameters>(url);
    expect(param(res, 'name')[0]?.valueString).toBe('Emergency Severity Index levels');
    expect(param(res, 'display')[0]?.valueString).toBe('ESI 2 - Emergent');
    expect(param(res, 'property').some((p) => p.part?.some((x) => x.valueCode === 'definition'))).toBe(true);

    const posted = await t.medplum.post<Parameters>(t.medplum.fhirUrl('CodeSystem', '$lookup'), {
      resourceType: 'Parameters',
      parameter: [{ name: 'coding', valueCoding: { system: 'http://hl7.org/fhir/administrative-gender', code: 'female' } }],
    });
    expect(param(posted, 'display')[0]?.valueString).toBe('Female');
  });

  test('designations and properties of a stored code system', async () => {
    const system = 'https://emergisphere.test/CodeSystem/lookup-test';
    await t.medplum.createResource<CodeSystem>({
      resourceType: 'CodeSystem',
      url: system,
      status: 'active',
      content: 'complete',
      property: [{ code: 'rank', type: 'integer', description: 'Sort rank' }],
      concept: [
        {
          code: 'a',
          display: 'Alpha',
          designation: [{ language: 'de', value: 'Alfa' }],
          property: [{ code: 'rank', valueInteger: 3 }],
        },
      ],
    });
    const url = t.medplum.fhirUrl('CodeSystem', '$lookup');
    url.search = new URLSearchParams({ system, code: 'a' }).toString();
    const res = await t.medplum.get<Parameters>(url);
    expect(param(res, 'designation')[0]?.part).toEqual([
      { name: 'language', valueCode: 'de' },
      { name: 'value', valueString: 'Alfa' },
    ]);
    expect(param(res, 'property')[0]?.part).toEqual([
      { name: 'code', valueCode: 'rank' },
      { name: 'description', valueString: 'Sort rank' },
      { name: 'value', valueInteger: 3 },
    ]);
  });

  test('unknown code or system → 400', async () => {
    for (const [q, text] of [
      ['system=http://hl7.org/fhir/administrative-gender&code=nope', 'nope'],
      ['system=http://nowhere.test&code=x', 'not found'],
      ['code=x', 'system'],
    ]) {
      const res = await fetchJson(`${t.fhirUrl}CodeSystem/$lookup?${q}`);
      expect(res.status, q).toBe(400);
      expect(outcomeText(res.body), q).toContain(text);
    }
  });
});
