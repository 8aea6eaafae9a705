import type { CodeSystem, ValueSet } from '@medplum/fhirtypes';
import { storedCanonical } from '../operations/input.ts';
import type { PostgresRepository } from '../repo.ts';
import type { TerminologyCatalog } from './catalog.ts';
import type { TerminologyResolver } from './expansion.ts';

/** Memoises a lookup by URL, so a request asks the database once per URL. */
function memoised<T>(lookup: (url: string) => Promise<T>): (url: string) => Promise<T> {
  const found = new Map<string, Promise<T>>();
  return (url) => {
    let result = found.get(url);
    if (!result) {
      result = lookup(url);
      found.set(url, result);
    }
    return result;
  };
}

/**
 * Value sets and code systems stored on the server (as the caller may read them) take precedence,
 * as in Medplum; then the shipped ones. Lookups are memoised for the request.
 */
export function requestResolver(repo: PostgresRepository, catalog: TerminologyCatalog): TerminologyResolver {
  return {
    valueSet: memoised(async (url) => (await storedCanonical<ValueSet>(repo, 'ValueSet', url)) ?? catalog.valueSet(url)),
    codeSystem: memoised(async (url) => (await storedCanonical<CodeSystem>(repo, 'CodeSystem', url)) ?? catalog.codeSystem(url)),
  };
}
