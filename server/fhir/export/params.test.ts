import { OperationOutcomeError } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadProfiles } from '../definitions.ts';
import { parametersAsQuery, parseExportRequest } from './params.ts';

beforeAll(() => {
  loadProfiles('./fhir-profiles');
});

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as OperationOutcomeError).outcome.issue?.[0]?.details?.text ?? '';
  }
  return 'no error';
};

describe('parseExportRequest', () => {
  test('normalises _type, _since and _typeFilter', () => {
    const req = parseExportRequest('system', {
      _type: ['Encounter,Task', 'Task'],
      _since: '2026-03-02T10:00:00+01:00',
      _typeFilter: 'Encounter?status=finished,Task?code=https://x|a,b&status=failed',
    });
    expect(req.types).toEqual(['Encounter', 'Task']);
    expect(req.since).toBe('2026-03-02T09:00:00.000Z');
    expect(req.typeFilters?.Encounter).toEqual([[{ code: 'status', operator: 'eq', value: 'finished' }]]);
    // The comma inside the Task filter's value does not start a new filter.
    expect(req.typeFilters?.Task?.[0]).toEqual([
      { code: 'code', operator: 'eq', value: 'https://x|a,b' },
      { code: 'status', operator: 'eq', value: 'failed' },
    ]);
  });

  test('refuses what it cannot honour', () => {
    expect(message(() => parseExportRequest('system', { _outputFormat: 'text/csv' }))).toContain('_outputFormat');
    expect(parseExportRequest('system', { _outputFormat: 'application/fhir+ndjson' }).level).toBe('system');
    expect(message(() => parseExportRequest('system', { _type: 'Nope' }))).toContain('Unknown resource type');
    expect(message(() => parseExportRequest('system', { _since: 'yesterday' }))).toContain('_since');
    expect(message(() => parseExportRequest('system', { _type: 'Patient', _typeFilter: 'Task?status=ready' }))).toContain('not in _type');
    expect(message(() => parseExportRequest('system', { _typeFilter: 'status=ready' }))).toContain('_typeFilter');
    expect(message(() => parseExportRequest('system', { _elements: 'id' }))).toContain('_elements');
  });

  test('a POST body of Parameters reads like the query', () => {
    const q = parametersAsQuery({
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient' },
        { name: '_since', valueInstant: '2026-01-01T00:00:00Z' },
      ],
    });
    expect(parseExportRequest('patient', q)).toMatchObject({ level: 'patient', types: ['Patient'], since: '2026-01-01T00:00:00.000Z' });
    expect(() => parametersAsQuery({ resourceType: 'Patient' })).toThrow(OperationOutcomeError);
  });
});
