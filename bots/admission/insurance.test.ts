import type { Coverage, CoverageEligibilityRequest, Encounter, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  coverageFromCard,
  eligibilityRequest,
  eligibilitySummary,
  errorResponse,
  payerPayload,
  pickCoverage,
  readInsuranceCard,
  responseFromPayer,
} from './insurance.ts';

const patient = {
  resourceType: 'Patient',
  id: 'p1',
  name: [{ family: 'Dubois', given: ['Catherine'] }],
  birthDate: '1971-05-09',
} as Patient & { id: string };
const encounter = { resourceType: 'Encounter', id: 'e1', status: 'arrived', class: { code: 'EMER' } } as Encounter & { id: string };
const coverage = {
  resourceType: 'Coverage',
  id: 'c1',
  status: 'active',
  beneficiary: { reference: 'Patient/p1' },
  subscriberId: 'ACME-1001',
  payor: [{ display: 'Acme Health' }],
} as Coverage & { id: string };
const now = '2025-04-27T10:00:00.000Z';

describe('coverage', () => {
  test('active before draft, by order; cancelled ones never', () => {
    const c = (id: string, status: Coverage['status'], order?: number) => ({ ...coverage, id, status, order });
    expect(pickCoverage([c('a', 'draft', 1), c('b', 'active', 2), c('c', 'active', 1)])?.id).toBe('c');
    expect(pickCoverage([c('a', 'cancelled')])).toBeUndefined();
  });
  test('an insurance card read into a Coverage', () => {
    const card = readInsuranceCard('ACME HEALTH\nMember ID: ACME-1001\nGroup: 7788\nName: CATHERINE DUBOIS\n');
    expect(card).toEqual({ payer: 'ACME HEALTH', memberId: 'ACME-1001', group: '7788', subscriber: 'CATHERINE DUBOIS' });
    const made = coverageFromCard(card as never, patient);
    expect(made).toMatchObject({
      status: 'active',
      beneficiary: { reference: 'Patient/p1' },
      subscriberId: 'ACME-1001',
      payor: [{ display: 'ACME HEALTH' }],
    });
    expect(made.class?.[0].value).toBe('7788');
    expect(readInsuranceCard('a picture of a cat')).toBeUndefined();
  });
});

describe('eligibility', () => {
  const request = { ...eligibilityRequest(coverage, patient, encounter, now), id: 'r1' } as CoverageEligibilityRequest & { id: string };

  test('the request, and what is sent: our Coverage and the patient contained, no clinical data', () => {
    expect(request).toMatchObject({
      purpose: ['validation', 'benefits'],
      patient: { reference: 'Patient/p1' },
      insurer: { display: 'Acme Health' },
    });
    const sent = payerPayload(request, coverage, patient);
    expect(sent.id).toBeUndefined();
    expect(sent.insurance?.[0].coverage.reference).toBe('#coverage');
    expect(sent.contained?.map((r) => r.resourceType)).toEqual(['Patient', 'Coverage']);
    expect(JSON.stringify(sent)).not.toContain('Encounter');
  });
  test("the payer's answer becomes ours: our references, its verdict", () => {
    const response = responseFromPayer(
      {
        resourceType: 'CoverageEligibilityResponse',
        outcome: 'complete',
        disposition: 'active',
        insurance: [{ coverage: { reference: '#coverage' }, inforce: false }],
      },
      request,
      now,
    );
    expect(response).toMatchObject({
      request: { reference: 'CoverageEligibilityRequest/r1' },
      patient: { reference: 'Patient/p1' },
      insurance: [{ coverage: { reference: 'Coverage/c1' }, inforce: false }],
    });
    expect(eligibilitySummary(response as never)).toBe('coverage NOT in force — active');
    expect(responseFromPayer({ resourceType: 'OperationOutcome' }, request, now)).toBeUndefined();
  });
  test('no answer: an error response that says why', () => {
    const response = errorResponse(request, 'the payer did not answer within 5000 ms', now);
    expect(response.outcome).toBe('error');
    expect(eligibilitySummary(response)).toContain('Eligibility not confirmed: the payer did not answer within 5000 ms');
  });
});
