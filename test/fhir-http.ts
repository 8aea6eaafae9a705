import type { OperationOutcome } from '@medplum/fhirtypes';
import { authorizationFor } from './server.ts';

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined when the body is empty or not JSON. */
  body: T;
  text: string;
}

export interface HttpOptions {
  body?: unknown;
  /** A raw body (sent as is); overrides `body`. */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

/**
 * One plain HTTP request to the FHIR base, for what MedplumClient cannot express (raw bodies,
 * exact statuses and headers). `path` is relative to the FHIR base URL.
 */
export async function fhirFetch<T = unknown>(
  fhirUrl: string,
  method: string,
  path: string,
  options: HttpOptions = {},
): Promise<HttpResult<T>> {
  const auth = authorizationFor(fhirUrl);
  const headers: Record<string, string> = { accept: 'application/fhir+json', ...(auth ? { authorization: auth } : {}), ...options.headers };
  let body: string | Uint8Array | undefined = options.raw;
  if (body === undefined && options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/fhir+json';
  }
  const response = await fetch(fhirUrl + path, { method, headers, body: body as BodyInit | undefined });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/** The texts of an OperationOutcome's issues, for assertions. */
export function issueTexts(outcome: OperationOutcome | undefined): string[] {
  return (outcome?.issue ?? []).map((i) => i.details?.text ?? i.diagnostics ?? '');
}
