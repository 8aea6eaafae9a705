import type { Bundle } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { entryOutcomes, issueTexts, locationPath, parseBundleInput } from './batch-input.ts';

const transaction: Bundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
    { request: { method: 'GET', url: 'Patient/x' } },
  ],
};

describe('parseBundleInput', () => {
  test('accepts a batch or transaction Bundle', () => {
    expect(parseBundleInput(JSON.stringify(transaction))).toEqual({ bundle: transaction });
    expect(parseBundleInput(JSON.stringify({ ...transaction, type: 'batch' })).bundle?.type).toBe('batch');
  });

  test('names what is wrong', () => {
    expect(parseBundleInput('   ').error).toMatch(/Paste a Bundle/);
    expect(parseBundleInput('{"resourceType": "Bundle",').error).toMatch(/^Invalid JSON: /);
    expect(parseBundleInput('[1]').error).toMatch(/JSON object/);
    expect(parseBundleInput('{"resourceType":"Patient"}').error).toBe('Expected a Bundle, got "Patient".');
    expect(parseBundleInput('{"resourceType":"Bundle","type":"searchset","entry":[]}').error).toBe(
      'Bundle.type must be "batch" or "transaction", got "searchset".',
    );
    expect(parseBundleInput('{"resourceType":"Bundle","type":"batch"}').error).toBe('The Bundle has no entries.');
    expect(
      parseBundleInput('{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient"}},{}]}').error,
    ).toBe('Entry 2 has no request.method and request.url.');
  });
});

describe('entryOutcomes', () => {
  test('pairs requests with responses: status, location and the issues of failed entries', () => {
    const response: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: [
        {
          response: {
            status: '201 Created',
            location: 'Patient/1/_history/1',
            outcome: {
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'information', code: 'informational', details: { text: 'All OK' } }],
            },
          },
        },
        {
          response: {
            status: '404',
            outcome: {
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'not-found', details: { text: 'Not found' }, expression: ['Patient.id'] }],
            },
          },
        },
      ],
    };
    expect(entryOutcomes(transaction, response)).toEqual([
      { index: 1, request: 'POST Patient', status: '201 Created', ok: true, location: 'Patient/1/_history/1', issues: [] },
      { index: 2, request: 'GET Patient/x', status: '404', ok: false, location: undefined, issues: ['Not found (Patient.id)'] },
    ]);
  });

  test('issueTexts falls back to diagnostics, then the code', () => {
    expect(
      issueTexts({
        resourceType: 'OperationOutcome',
        issue: [
          { severity: 'error', code: 'invalid', diagnostics: 'bad date' },
          { severity: 'error', code: 'processing' },
        ],
      }),
    ).toEqual(['bad date', 'processing']);
  });
});

describe('locationPath', () => {
  test('relative and absolute locations, with or without a version', () => {
    expect(locationPath('Patient/1/_history/2')).toBe('/Patient/1');
    expect(locationPath('http://127.0.0.1:8103/fhir/R4/Patient/abc-1/_history/xyz')).toBe('/Patient/abc-1');
    expect(locationPath('Observation/9')).toBe('/Observation/9');
    expect(locationPath('not a location')).toBeUndefined();
  });
});
