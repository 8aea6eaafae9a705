import { OperationOutcomeError, Operator } from '@medplum/core';
import type { CodeSystem, Parameters, ValueSet } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repo.ts';
import type { TerminologyCatalog } from './catalog.ts';
import type { TerminologyResolver } from './expansion.ts';

/** Stored resources of the URL the caller may read (newest first); none when the policy hides the type. */
async function stored<T extends ValueSet | CodeSystem>(
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

/**
 * Value sets and code systems stored on the server (as the caller may read them) take precedence,
 * as in Medplum; then the shipped ones. Lookups are memoised for the request.
 */
export function requestResolver(repo: PostgresRepository, catalog: TerminologyCatalog): TerminologyResolver {
  const valueSets = new Map<string, Promise<ValueSet | undefined>>();
  const codeSystems = new Map<string, Promise<CodeSystem | undefined>>();
  return {
    valueSet(url) {
      let found = valueSets.get(url);
      if (!found) {
        found = stored<ValueSet>(repo, 'ValueSet', url).then((vs) => vs ?? catalog.valueSet(url));
        valueSets.set(url, found);
      }
      return found;
    },
    codeSystem(url) {
      let found = codeSystems.get(url);
      if (!found) {
        found = stored<CodeSystem>(repo, 'CodeSystem', url).then((cs) => cs ?? catalog.codeSystem(url));
        codeSystems.set(url, found);
      }
      return found;
    },
  };
}

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
