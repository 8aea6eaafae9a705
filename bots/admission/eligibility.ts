/** The HTTP call to the payer's eligibility endpoint (FHIR JSON in, FHIR JSON out), bounded in time. */
import type { CoverageEligibilityRequest } from '@medplum/fhirtypes';

export interface PayerEndpoint {
  url: string;
  token?: string;
  timeoutMs: number;
}

export type PayerAnswer = { ok: true; body: unknown } | { ok: false; reason: string };

export async function askPayer(endpoint: PayerEndpoint, request: CoverageEligibilityRequest): Promise<PayerAnswer> {
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        ...(endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {}),
      },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(endpoint.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) return { ok: false, reason: `the payer answered HTTP ${response.status}` };
    try {
      return { ok: true, body: JSON.parse(text) };
    } catch {
      return { ok: false, reason: 'the payer answered something that is not JSON' };
    }
  } catch (err) {
    const name = (err as Error).name;
    return {
      ok: false,
      reason:
        name === 'TimeoutError' || name === 'AbortError'
          ? `the payer did not answer within ${endpoint.timeoutMs} ms`
          : `the payer could not be reached (${(err as Error).message})`,
    };
  }
}
