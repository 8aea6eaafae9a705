/**
 * A payer's eligibility endpoint (FHIR R4: POST a CoverageEligibilityRequest with its Coverage
 * contained, get a CoverageEligibilityResponse), for the admission agent's tests. The member id
 * decides the answer: `INACTIVE…` → coverage not in force, anything else → in force with an
 * emergency-care benefit. `failure = 'timeout'` makes it never answer.
 */
import type { Coverage, CoverageEligibilityRequest, CoverageEligibilityResponse } from '@medplum/fhirtypes';
import { type FakeServer, startFakeServer } from './fake-server.ts';

export type FakePayer = FakeServer;

const OUTCOME = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'payer system error' }] };

export async function startFakePayer(): Promise<FakePayer> {
  return startFakeServer(
    (req) => {
      if (req.method !== 'POST' || !req.url.startsWith('/eligibility')) return { status: 404, body: OUTCOME };
      let request: CoverageEligibilityRequest;
      try {
        request = JSON.parse(req.body) as CoverageEligibilityRequest;
      } catch {
        return { status: 400, body: OUTCOME };
      }
      const coverage = request.contained?.find((r) => r.resourceType === 'Coverage') as Coverage | undefined;
      const member = coverage?.subscriberId ?? '';
      if (request.resourceType !== 'CoverageEligibilityRequest' || !member) return { status: 400, body: OUTCOME };
      const inforce = !member.startsWith('INACTIVE');
      const response: CoverageEligibilityResponse = {
        resourceType: 'CoverageEligibilityResponse',
        status: 'active',
        purpose: request.purpose,
        patient: { reference: '#patient' },
        created: new Date().toISOString(),
        request: { identifier: { system: 'https://payer.example/request', value: member } },
        outcome: 'complete',
        disposition: inforce ? `Member ${member} active; emergency services covered` : `Member ${member} terminated`,
        insurer: request.insurer,
        insurance: [
          {
            coverage: { reference: '#coverage' },
            inforce,
            ...(inforce
              ? {
                  item: [
                    {
                      category: { text: 'Emergency room' },
                      benefit: [{ type: { text: 'copay' }, allowedMoney: { value: 150, currency: 'USD' } }],
                    },
                  ],
                }
              : {}),
          },
        ],
      };
      return { status: 200, headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(response) };
    },
    { unauthorized: { status: 401, body: OUTCOME }, 'server-error': { status: 500, body: OUTCOME } },
  );
}
