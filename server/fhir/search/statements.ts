import { createHash } from 'node:crypto';

/**
 * Names under which search SELECTs run as prepared statements: the searches that start from an
 * identifier, an _id or a reference (driver.ts: isBounded), which have one right plan whatever the
 * values. Outside a transaction they run on the search pool, whose connections always use the
 * generic plan (RepositoryContext.searchPool): PostgreSQL then never plans them again (an
 * identifier search went from ~0.5 to ~0.19 ms of PostgreSQL CPU); query-plan.int.test.ts checks
 * those plans.
 *
 * Every other search runs unnamed, planned with its values each time. As a named statement left
 * to PostgreSQL's choice, `Observation?code=` switched to its generic plan after five executions:
 * it expects about one row per code, and sorted all 40,000 Observations of a LOINC code to return
 * 20 (bench:search at 1M resources: 598 ms; 9 ms planned with the value). A string prefix is an
 * index range either way (prefix-range.ts).
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
