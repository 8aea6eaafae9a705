/**
 * Conditional writes (create with If-None-Exist, conditional update, delete and patch) act on what
 * their search finds, so two of them with the same criteria must not both find nothing and both
 * create. They take a transaction-scoped advisory lock on their criteria before searching, at READ
 * COMMITTED: the second waits for the first to commit, and its search, a new statement with a new
 * snapshot, then sees the first one's resource.
 *
 * Why not SERIALIZABLE (Medplum's way): PostgreSQL's predicate locks on a B-tree are per page, so
 * conditional creates with *different* criteria of the same shape (an alert's identifiers share a
 * system and sort together) read and write the same index pages and abort one another as
 * serialization failures, which then run again. Under a burst of device alerts that was a dozen
 * aborted transactions a minute, each redone while the machine was busiest. The lock serializes
 * only writes that could really collide.
 *
 * What it covers: conditional writes with the same criteria (the same parameters, modifiers and
 * values, in any order), which is what races in practice: a retried or replayed request, two runs of
 * a bot, an HL7 feed sending one patient twice. What it does not and SSI did: two *different*
 * criteria that could match the same new resource (`identifier=a|1` and `identifier=a|1&gender=f`)
 * creating at the same moment can both create. A lock per parameter would cover that but serialize
 * every write that shares a common one (`status=active`).
 *
 * A transaction Bundle with several conditional entries takes all their locks at its start, in one
 * statement and in one order (transactionCriteriaKeys, CRITERIA_LOCK_ALL_SQL): one round trip
 * instead of one per entry (a device alert has seven), and two Bundles naming the same criteria in
 * opposite orders wait for each other instead of deadlocking. Criteria that name an entry of the
 * Bundle (`urn:uuid:`) are only known once FhirRouter resolved them; those entries lock on their own.
 */
import { parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';

/**
 * The advisory-lock key space of conditional-write criteria (two int4 keys: this one and the
 * criteria's hashtext). The server's other advisory locks take one bigint key, a separate space.
 */
export const CRITERIA_LOCK_SPACE = 0x45530001;

/** One statement: a prepared statement name and its SQL. */
export const CRITERIA_LOCK_SQL = { name: 'es_criteria_lock_v1', text: 'SELECT pg_advisory_xact_lock($1::int4, hashtext($2))' };

/** Many criteria, in the order given (sorted: every locker takes them in the same order). */
export const CRITERIA_LOCK_ALL_SQL = {
  name: 'es_criteria_lock_all_v1',
  text: `SELECT count(pg_advisory_xact_lock($1::int4, hashtext(k)))::int AS n
         FROM (SELECT k FROM unnest($2::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n) s`,
};

/**
 * The lock keys of a transaction Bundle's conditional entries (If-None-Exist creates, conditional
 * updates, patches and deletes), distinct and sorted; empty when fewer than two (nothing to save).
 */
export function transactionCriteriaKeys(bundle: Bundle): string[] {
  const keys = new Set<string>();
  for (const entry of bundle.entry ?? []) {
    const request = entry?.request;
    if (typeof request?.url !== 'string') continue;
    let query: string | undefined;
    if (request.method === 'POST' && typeof request.ifNoneExist === 'string') {
      query = `${request.url.split('?')[0]}?${request.ifNoneExist}`;
    } else if ((request.method === 'PUT' || request.method === 'PATCH' || request.method === 'DELETE') && request.url.includes('?')) {
      query = request.url;
    }
    if (!query || query.includes('urn:uuid:')) continue;
    try {
      keys.add(criteriaLockKey(parseSearchRequest(query)));
    } catch {
      // A malformed criteria fails its own entry, with its own error.
    }
  }
  return keys.size > 1 ? [...keys].sort() : [];
}

/** The criteria as one string, the same for the same criteria in any order. */
export function criteriaLockKey(search: SearchRequest): string {
  const filters = (search.filters ?? []).map((f) => `${f.code}:${f.operator}=${f.value}`).sort();
  return `${search.resourceType}?${filters.join('&')}`;
}
