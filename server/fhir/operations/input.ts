import { OperationOutcomeError, Operator } from '@medplum/core';
import type { Parameters, Resource } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repo.ts';

type Query = Record<string, unknown>;

/**
 * The input parameters of an operation: the query string, and for POST also a Parameters body
 * (or a plain JSON / form body), the body winning.
 */
export function operationInput(query: unknown, body: unknown): Map<string, unknown> {
  const input = new Map<string, unknown>();
  for (const [k, v] of Object.entries((query ?? {}) as Query)) {
    input.set(k, Array.isArray(v) ? v[0] : v);
  }
  if (body && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const b = body as Parameters & Query;
    if (b.resourceType === 'Parameters') {
      for (const p of b.parameter ?? []) {
        const value = p.resource ?? Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
        if (p.name) input.set(p.name, value);
      }
    } else if (!b.resourceType) {
      for (const [k, v] of Object.entries(b)) input.set(k, v);
    }
  }
  return input;
}

/**
 * The stored conformance resource of a canonical URL the caller may read (newest first); none when
 * there is none or the caller's policy hides the type, so the shipped definitions answer instead.
 */
export async function storedCanonical<T extends Resource & { url?: string }>(
  repo: PostgresRepository,
  resourceType: T['resourceType'],
  url: string,
): Promise<T | undefined> {
  try {
    return await repo.searchOne<T>({
      resourceType,
      filters: [{ code: 'url', operator: Operator.EQUALS, value: url }],
      sortRules: [{ code: '_lastUpdated', descending: true }],
    });
  } catch (err) {
    if (err instanceof OperationOutcomeError && err.outcome.issue?.[0]?.code === 'forbidden') {
      return undefined;
    }
    throw err;
  }
}
