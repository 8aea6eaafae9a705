import { createHash } from 'node:crypto';

/**
 * Names under which search SELECTs run as prepared statements. A search of a given shape (its SQL
 * text: every value is a bind parameter) is planned once per connection: for a small indexed
 * search, planning costs more than running it (measured on `Observation?code=&subject=`: ~1 ms of
 * planning against ~0.3 ms of execution).
 *
 * Left to choose, PostgreSQL keeps planning most searches on every execution, as a generic
 * plan's estimates look costlier than a custom plan's (planning was a fifth of PostgreSQL's CPU in
 * bench:fhir's name search; forcing the generic plan took an identifier search from ~0.5 to ~0.19 ms
 * of PostgreSQL CPU). A search that starts from an identifier, an _id or a reference
 * (driver.ts: isBounded) has one right plan for every value, so outside a transaction it runs on
 * the search pool, whose connections always use the generic plan (RepositoryContext.searchPool);
 * query-plan.int.test.ts checks those plans. Other searches stay on the main pool, planned with
 * their values while PostgreSQL finds that worth it.
 *
 * Only the first `capacity` shapes get a name, so a client inventing new shapes cannot grow every
 * connection's statement cache without bound; the rest run unnamed.
 */
export class SearchStatements {
  private readonly names = new Map<string, string>();
  private readonly capacity: number;

  constructor(capacity = 500) {
    this.capacity = capacity;
  }

  nameFor(sql: string): string | undefined {
    if (sql.includes(' LIKE ')) {
      // A LIKE pattern narrows an index only when the planner sees it; a generic plan cannot (as
      // a prepared statement, `Patient?name=` with LIKE 'smi%' fell from 938 to ~200 searches/s).
      // Prefix searches are ranges instead (prefix-range.ts); what still uses LIKE (:contains,
      // :text) runs unnamed, planned with its pattern.
      return undefined;
    }
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < this.capacity) {
      name = `search_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
      this.names.set(sql, name);
    }
    return name;
  }
}
