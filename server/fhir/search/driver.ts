import { type Filter, getSearchParameters, Operator } from '@medplum/core';

/**
 * Which condition of a search drives it: PostgreSQL starts from that condition's index rows and
 * probes each candidate for the others (conditions.ts: ConditionContext.probe).
 *
 * Searches run as prepared statements (statements.ts), so PostgreSQL plans them once for any
 * values. For a generic plan it estimates each `value = $n` from the column's distinct values
 * alone — about one row for every token or reference condition — so with `code` and `subject` it
 * starts from either at random: from `code` it walks every Observation with that LOINC code (272
 * rows at 5,600 Observations, growing with the database) to keep the one or two of the patient.
 * That choice flipped with every ANALYZE; bench:fhir's code+subject search ran 2,308/s or 626/s
 * depending on which statistics the plan was made with.
 *
 * What a parameter selects is mostly known without statistics: an identifier or _id names one
 * resource, a reference one patient's (or encounter's, device's) resources, a status or a
 * category a large share of a type. Ranks below follow that; the first condition of the lowest
 * rank drives and the other ranked conditions become probes. Conditions without a rank (chains,
 * _has, :missing, :not, :text, _filter, _lastUpdated, _compartment) are left to the planner.
 */
export type DriverRank = 0 | 1 | 2 | 3 | 4;

/**
 * Token parameters whose values each match a large share of a type (a required binding with a
 * handful of codes): never worth starting from when anything else is given.
 */
const BROAD_TOKENS = new Set(['status', 'category', 'gender', 'active', 'intent', 'priority', 'class', 'kind', 'mode', 'deceased']);

/** How selective a filter's condition is by nature; undefined: not ranked (left to the planner). */
export function driverRank(resourceType: string, filter: Filter): DriverRank | undefined {
  const { code, operator } = filter;
  if (code === '_id') {
    return operator === Operator.EQUALS || operator === Operator.EXACT ? 0 : undefined;
  }
  if (code.startsWith('_') || code.includes('.')) {
    return undefined;
  }
  const sp = getSearchParameters(resourceType)?.[code];
  if (!sp) {
    return undefined;
  }
  switch (sp.type) {
    case 'token':
      if (operator !== Operator.EQUALS && operator !== Operator.EXACT) {
        return undefined;
      }
      if (code === 'identifier') {
        return 0;
      }
      return BROAD_TOKENS.has(code) ? 4 : 2;
    case 'reference':
      return operator === Operator.EQUALS ? 1 : undefined;
    case 'string':
    case 'uri':
      return operator === Operator.EQUALS || operator === Operator.EXACT || operator === Operator.STARTS_WITH ? 2 : undefined;
    case 'date':
    case 'number':
    case 'quantity':
      return operator === Operator.MISSING || operator === Operator.PRESENT ? undefined : 3;
    default:
      return undefined;
  }
}

/**
 * Whether a driver of this rank collects its ids before anything else runs. A reference names one
 * patient's (encounter's, device's) resources: few enough to collect, and collected they leave
 * PostgreSQL no plan to choose. As a semi-join, with statistics older than the data (a young
 * database: the tables were empty when last analysed), it walked every Observation in id order
 * and probed each for the patient (bench:device, the vitals search of every alarm). A broad
 * driver (a code, a date range) stays a semi-join, which a LIMIT can cut short.
 */
export function drivesByIds(rank: DriverRank | undefined): boolean {
  return rank === 1;
}

/**
 * For each filter, whether its condition should be a probe: every ranked filter but the driver
 * (the first of the lowest rank). Nothing is a probe unless two or more filters are ranked.
 */
export function probeFilters(ranks: (DriverRank | undefined)[]): boolean[] {
  let driver = -1;
  ranks.forEach((rank, i) => {
    if (rank !== undefined && (driver < 0 || rank < (ranks[driver] as number))) {
      driver = i;
    }
  });
  return ranks.map((rank, i) => rank !== undefined && i !== driver);
}

/**
 * Whether conditions of these ranks start from a few rows whatever their values: an identifier,
 * an _id or a reference drives. Such a search runs the same generic plan for every execution
 * (statements.ts). Another driver's rows may be a handful or half the type (a code, a name
 * prefix, a status), and only a plan made with the values knows whether to start from them or to
 * walk the sort order and probe: in a generic plan, `Patient?gender=female&_sort=-_lastUpdated`
 * sorted every female Patient to return 20.
 */
export function isBounded(ranks: (DriverRank | undefined)[]): boolean {
  return ranks.some((rank) => rank !== undefined && rank <= 1);
}
