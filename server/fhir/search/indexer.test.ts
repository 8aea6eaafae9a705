import type { MedicationRequest, Observation, Patient } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../definitions.ts';
import { buildIndexRows, MAX_INDEXED_BYTES, searchParameterFingerprint } from '../indexer.ts';

beforeAll(() => {
  loadBaseDefinitions();
});

describe('buildIndexRows', () => {
  test('partial dates cover their whole period, ending where it ends', () => {
    const rows = buildIndexRows({ resourceType: 'Patient', birthDate: '1990-02' } as Patient);
    expect(rows.date.filter(([code]) => code === 'birthdate')).toEqual([
      ['birthdate', '1990-02-01T00:00:00.000Z', '1990-03-01T00:00:00.000Z'],
    ]);
  });

  test('Periods run from the start of their start to the end of their end; open ends are unbounded', () => {
    const closed = buildIndexRows({
      resourceType: 'Observation',
      status: 'final',
      code: {},
      effectivePeriod: { start: '2024-02-20', end: '2024-03-05T12:00:00Z' },
    } as Observation);
    expect(closed.date.filter(([code]) => code === 'date')).toEqual([['date', '2024-02-20T00:00:00.000Z', '2024-03-05T12:00:01.000Z']]);
    const open = buildIndexRows({
      resourceType: 'Observation',
      status: 'final',
      code: {},
      effectivePeriod: { end: '2024' },
    } as Observation);
    expect(open.date.filter(([code]) => code === 'date')).toEqual([['date', '-infinity', '2025-01-01T00:00:00.000Z']]);
  });

  test('Timing events are dates', () => {
    const rows = buildIndexRows({
      resourceType: 'Observation',
      status: 'final',
      code: {},
      effectiveTiming: { event: ['2024-01-01T08:00:00Z', '2024-01-02T08:00:00Z'] },
    } as Observation);
    expect(rows.date.filter(([code]) => code === 'date').map(([, lo]) => lo)).toEqual([
      '2024-01-01T08:00:00.000Z',
      '2024-01-02T08:00:00.000Z',
    ]);
  });

  test('text too long for a B-tree is cut; the raw value is kept for :exact', () => {
    const long = 'é'.repeat(2000);
    const rows = buildIndexRows({ resourceType: 'Patient', name: [{ family: long }], identifier: [{ value: long }] } as Patient);
    const family = rows.string.find(([code]) => code === 'family');
    expect(Buffer.byteLength(family?.[1] ?? '')).toBeLessThanOrEqual(MAX_INDEXED_BYTES);
    expect(family?.[2]).toBe(long);
    const identifier = rows.token.find(([code]) => code === 'identifier');
    expect(Buffer.byteLength(identifier?.[2] ?? '')).toBeLessThanOrEqual(MAX_INDEXED_BYTES);
    expect(identifier?.[2]?.endsWith('é')).toBe(true);
  });

  test('references: local ids, logical identifiers and literal text', () => {
    const rows = buildIndexRows({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { text: 'x' },
      subject: { reference: 'Patient/p1/_history/3', identifier: { system: 'urn:mrn', value: '7' } },
      requester: { identifier: { system: 'urn:npi', value: '42' } },
      performer: { reference: 'http://other.example/fhir/Practitioner/9' },
    } as MedicationRequest);
    expect(rows.reference).toContainEqual(['subject', 'Patient', 'p1', 'Patient/p1/_history/3']);
    expect(rows.token).toContainEqual(['subject:identifier', 'urn:mrn', '7']);
    expect(rows.token).toContainEqual(['requester:identifier', 'urn:npi', '42']);
    // A logical reference is present (for :missing) through its identifier only.
    expect(rows.reference.filter(([code]) => code === 'requester')).toEqual([]);
    expect(rows.reference).toContainEqual(['intended-performer', null, null, 'http://other.example/fhir/Practitioner/9']);
  });

  test('the fingerprint changes with the parameter set', () => {
    expect(searchParameterFingerprint('Patient')).toMatch(/^[0-9a-f]{32}$/);
    expect(searchParameterFingerprint('Patient')).not.toBe(searchParameterFingerprint('Observation'));
  });
});
