/** The HTTP call to the payer's eligibility endpoint (FHIR JSON in, FHIR JSON out), bounded in time. */
import type { CoverageEligibilityRequest } from '@medplum/fhirtypes';

export interface PayerEndpoint {
  url: string;
  token?: string;
  timeoutMs: number;
}

export type PayerAnswer = { ok: true; body: unknown } | { ok: false; reason: string };

const TIMED_OUT = 'payer-timeout';

/**
 * `fetch` with a deadline. The bot sandbox has no AbortSignal.timeout (nor always an
 * AbortController), so a timer races the request and aborts it where it can.
 */
async function fetchWithin(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(TIMED_OUT));
      controller?.abort();
    }, timeoutMs);
  });
  try {
    return await Promise.race([fetch(url, { ...init, signal: controller?.signal }), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export async function askPayer(endpoint: PayerEndpoint, request: CoverageEligibilityRequest): Promise<PayerAnswer> {
  try {
    const response = await fetchWithin(
      endpoint.url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/fhir+json',
          accept: 'application/fhir+json',
          ...(endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {}),
        },
        body: JSON.stringify(request),
      },
      endpoint.timeoutMs,
    );
    const text = await response.text();
    if (!response.ok) return { ok: false, reason: `the payer answered HTTP ${response.status}` };
    try {
      return { ok: true, body: JSON.parse(text) };
    } catch {
      return { ok: false, reason: 'the payer answered something that is not JSON' };
    }
  } catch (err) {
    return {
      ok: false,
      reason:
        (err as Error).message === TIMED_OUT
          ? `the payer did not answer within ${endpoint.timeoutMs} ms`
          : `the payer could not be reached (${(err as Error).message})`,
    };
  }
}
