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
 * every write that shares a common one (`status=active`). Two transaction Bundles locking the same
 * two criteria in opposite orders deadlock; PostgreSQL ends one after deadlock_timeout and
 * withTransaction runs it again.
 */
import type { SearchRequest } from '@medplum/core';

/**
 * The advisory-lock key space of conditional-write criteria (two int4 keys: this one and the
 * criteria's hashtext). The server's other advisory locks take one bigint key, a separate space.
 */
export const CRITERIA_LOCK_SPACE = 0x45530001;

/** One statement: a prepared statement name and its SQL. */
export const CRITERIA_LOCK_SQL = { name: 'es_criteria_lock_v1', text: 'SELECT pg_advisory_xact_lock($1::int4, hashtext($2))' };

/** The criteria as one string, the same for the same criteria in any order. */
export function criteriaLockKey(search: SearchRequest): string {
  const filters = (search.filters ?? []).map((f) => `${f.code}:${f.operator}=${f.value}`).sort();
  return `${search.resourceType}?${filters.join('&')}`;
}
