import {
  badRequest,
  type Filter,
  getSearchParameter,
  getSearchParameterDetails,
  getSearchParameters,
  OperationOutcomeError,
  Operator,
} from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { indexSource } from '../../audit/event-index.ts';
import { indexedCode, normalizeString } from '../indexer.ts';
import { filterParameterCondition } from './filter.ts';
import { MODIFIERS, PREFIXES, parseSearchParameter } from './parse.ts';
import { prefixRangeCondition } from './prefix-range.ts';
import { parseDateRange, parseNumberValue, toTimestamp } from './ranges.ts';

/** Collects bind parameters; user input only ever reaches PostgreSQL through these. */
export class SqlParams {
  readonly values: unknown[] = [];
  private aliasCounter = 0;

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  alias(prefix: string): string {
    this.aliasCounter++;
    return `${prefix}${this.aliasCounter}`;
  }
}

/** What a condition is about: resources of one type whose id is `idExpr`. */
export interface SearchTarget {
  resourceType: string;
  idExpr: string;
  /** Alias of the resource table row, when the condition is evaluated on it directly. */
  rowAlias?: string;
}

export interface ConditionContext {
  params: SqlParams;
  /** Unknown parameters are an error (Prefer: handling=strict) or ignored and reported. */
  strict: boolean;
  /** Lenient mode collects the parameters it ignored, to report them in the Bundle. */
  ignored: string[];
  /** Base URL of this server, to recognise absolute references to local resources. */
  fhirBaseUrl: string;
  /** Chains and _has nest; bound the depth so one request cannot build an enormous query. */
  depth: number;
  /**
   * Which resources of a type the caller may see, as SQL on `idExpr` (undefined: all). Applied to
   * every type a search reaches, chain targets and _has sources included, so a chain through a
   * hidden type cannot reveal what it points at.
   */
  restrict?: (resourceType: string, idExpr: string) => string | undefined;
  /**
   * How the condition takes part in the search (driver.ts). `probe`: it checks the candidates
   * another condition found, as a correlated EXISTS that PostgreSQL cannot turn into a join it
   * might start from. `drive`: its ids are collected first (`= ANY(ARRAY(…))`, run once whatever
   * the estimates) and the resources then fetched by primary key. Absent: left to the planner.
   */
  role?: 'probe' | 'drive';
}

/** `cond` limited to what the caller may see of `resourceType`. */
function visible(ctx: ConditionContext, resourceType: string, idExpr: string, cond: string): string {
  const restriction = ctx.restrict?.(resourceType, idExpr);
  return restriction ? `${cond} AND ${restriction}` : cond;
}

const MAX_CHAIN_DEPTH = 4;
const LOCAL_REFERENCE_RE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** Parameters every type answers from the resource table or specially, not from a SearchParameter. */
const SPECIAL_PARAMS = new Set(['_id', '_lastUpdated', '_compartment', '_filter']);

function invalid(message: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

const ESCAPABLE = new Set([',', '|', '$', '\\']);

/**
 * The OR alternatives of a search value, split on unescaped commas. `\,` `\|` `\$` `\\` are FHIR's
 * escapes; a backslash before anything else is kept as written (core's splitter would drop it,
 * so `c:\dir` would silently search for `c:dir`). Empty alternatives are dropped (a search for
 * nothing finds nothing, rather than an empty prefix matching everything) unless `keepEmpty`:
 * for numbers and dates an empty value is malformed and its parser says so.
 */
export function splitSearchValues(input: string, keepEmpty = false): string[] {
  const result: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === '\\' && i + 1 < input.length && ESCAPABLE.has(input[i + 1])) {
      current += input[++i];
    } else if (c === ',') {
      result.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  result.push(current);
  return keepEmpty ? result : result.filter((v) => v !== '');
}

const PREFIX_RE = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[\d.+-])/;

/**
 * The alternatives of an ordered (date, number, quantity) value with the prefix each carries:
 * `ge2024,lt2020` is two comparisons. Core moved the first one's prefix into the operator; a
 * later alternative without a prefix means equality.
 */
function prefixedAlternatives(filter: Filter): [operator: string, value: string][] {
  return splitSearchValues(filter.value, true).map((v, i) => {
    const own = PREFIX_RE.exec(v)?.[1];
    if (own) {
      return [own, v.slice(2)];
    }
    return [i === 0 ? filter.operator : Operator.EQUALS, v];
  });
}

/** A condition over OR alternatives; no alternative at all matches nothing. */
function anyOf(ors: string[]): string {
  return ors.length > 0 ? ors.join(' OR ') : 'FALSE';
}

function likeEscape(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function indexSubquery(ctx: ConditionContext, table: string, target: SearchTarget, code: string, where: string): string {
  const a = ctx.params.alias('x');
  const cond = where.replaceAll('{a}', a);
  return `SELECT ${a}.id FROM ${indexSource(table, target.resourceType)} ${a} WHERE ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND ${a}.code = ${ctx.params.add(code)}${cond ? ` AND (${cond})` : ''}`;
}

/** No index row of the target matches: NOT EXISTS, which PostgreSQL plans as an anti-join (NOT IN it cannot). */
function noIndexRow(ctx: ConditionContext, table: string, target: SearchTarget, code: string, where: string): string {
  const a = ctx.params.alias('n');
  const cond = where.replaceAll('{a}', a);
  return `NOT EXISTS (SELECT 1 FROM ${indexSource(table, target.resourceType)} ${a} WHERE ${a}.id = ${target.idExpr} AND ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND ${a}.code = ${ctx.params.add(code)}${cond ? ` AND (${cond})` : ''})`;
}

/**
 * An index row of the target matches, looked up for the one candidate `target.idExpr`: the
 * candidate's rows of the parameter are read by id (the (id, resource_type, code) index), then
 * checked against the condition. The inner OFFSET 0 keeps the condition out of that lookup: given
 * it, PostgreSQL took the value index whenever it misjudged the value as rare, and read every row
 * of the value for each candidate (bench:search at 1M resources, `Patient?family=&given=`: 2,270
 * rows of "richard" per candidate, 451 ms). The outer OFFSET 0 keeps the EXISTS a subplan run per
 * candidate (without it PostgreSQL pulls it up into a semi-join and may start from it).
 */
function probeIndexRow(ctx: ConditionContext, table: string, target: SearchTarget, code: string, where: string): string {
  const a = ctx.params.alias('p');
  const cond = where.replaceAll('{a}', a);
  const rows = `SELECT * FROM ${indexSource(table, target.resourceType)} ${a} WHERE ${a}.id = ${target.idExpr} AND ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND ${a}.code = ${ctx.params.add(code)} OFFSET 0`;
  return `EXISTS (SELECT 1 FROM (${rows}) ${a}${cond ? ` WHERE (${cond})` : ''} OFFSET 0)`;
}

function inIndex(ctx: ConditionContext, table: string, target: SearchTarget, code: string, where: string, negate = false): string {
  if (negate) {
    return noIndexRow(ctx, table, target, code, where);
  }
  if (ctx.role === 'probe') {
    return probeIndexRow(ctx, table, target, code, where);
  }
  if (ctx.role === 'drive') {
    return `${target.idExpr} = ANY(ARRAY(${indexSubquery(ctx, table, target, code, where)}))`;
  }
  return `${target.idExpr} IN (${indexSubquery(ctx, table, target, code, where)})`;
}

const TABLE_BY_TYPE: Record<string, string> = {
  token: 'sp_token',
  string: 'sp_string',
  date: 'sp_date',
  number: 'sp_number',
  quantity: 'sp_quantity',
  reference: 'sp_reference',
  uri: 'sp_uri',
};

/**
 * The index rows that make a parameter "present". A token can be present through its text only
 * (a CodeableConcept with just `text`), a reference through its identifier only (a logical reference).
 */
function presenceRows(sp: SearchParameter, code: string): [table: string, code: string][] {
  const table = TABLE_BY_TYPE[sp.type as string];
  if (!table) {
    throw invalid(`:missing is not supported for ${sp.type} parameter ${code}`, code);
  }
  if (sp.type === 'token') {
    return [
      ['sp_token', code],
      ['sp_string', `${code}:text`],
    ];
  }
  if (sp.type === 'reference') {
    return [
      ['sp_reference', code],
      ['sp_token', `${code}:identifier`],
    ];
  }
  return [[table, code]];
}

/** `:missing=true|false` (and Medplum's `:present`) — whether any value was indexed for the parameter. */
function missingCondition(ctx: ConditionContext, target: SearchTarget, sp: SearchParameter, filter: Filter): string {
  if (filter.value !== 'true' && filter.value !== 'false') {
    throw invalid(`:${filter.operator} takes true or false, got "${filter.value}"`, filter.code);
  }
  const wantMissing = (filter.operator === Operator.MISSING) === (filter.value === 'true');
  const rows = presenceRows(sp, indexedCode(target.resourceType, sp));
  if (wantMissing) {
    return `(${rows.map(([table, code]) => noIndexRow(ctx, table, target, code, '')).join(' AND ')})`;
  }
  const present = rows.map(([table, code]) => `(${indexSubquery(ctx, table, target, code, '')})`);
  return `${target.idExpr} IN (${present.join(' UNION ALL ')})`;
}

/** Core indexes ContactPoint values in lower case (e-mail addresses are case-insensitive). */
function isContactPointParam(resourceType: string, sp: SearchParameter | undefined): boolean {
  if (!sp) {
    return false;
  }
  try {
    const details = getSearchParameterDetails(resourceType, sp);
    return !!details.elementDefinitions?.some((ed) => ed.type?.some((t) => t.code === 'ContactPoint'));
  } catch {
    return false;
  }
}

/** Normalised string search values; one that normalises to nothing (only spaces or accents) is dropped. */
function normalizedValues(values: string[]): string[] {
  return values.map(normalizeString).filter((v) => v !== '');
}

function textCondition(ctx: ConditionContext, values: string[]): string {
  // Any word of the text may start with the search value.
  return anyOf(
    normalizedValues(values).map((v) => {
      const n = likeEscape(v);
      return `{a}.value LIKE ${ctx.params.add(`${n}%`)} OR {a}.value LIKE ${ctx.params.add(`% ${n}%`)}`;
    }),
  );
}

function tokenCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter, sp?: SearchParameter): string {
  const { code, operator } = filter;
  const values = splitSearchValues(filter.value);
  if (operator === Operator.TEXT) {
    return inIndex(ctx, 'sp_string', target, `${code}:text`, textCondition(ctx, values));
  }
  if (operator !== Operator.EQUALS && operator !== Operator.NOT && operator !== Operator.EXACT) {
    throw invalid(`Modifier :${operator} is not supported for token parameter ${code}`, code);
  }
  const fold = isContactPointParam(target.resourceType, sp) ? (v: string) => v.toLowerCase() : (v: string) => v;
  /** The value each alternative pins (undefined for `system|`, which matches any value). */
  const pinned: (string | undefined)[] = [];
  const ors = values.map((v) => {
    const bar = v.indexOf('|');
    if (bar < 0) {
      pinned.push(fold(v));
      return `{a}.value = ${ctx.params.add(fold(v))}`;
    }
    const system = v.slice(0, bar);
    const value = v.slice(bar + 1);
    const parts: string[] = [system ? `{a}.system = ${ctx.params.add(system)}` : '{a}.system IS NULL'];
    pinned.push(value ? fold(value) : undefined);
    if (value) {
      parts.push(`{a}.value = ${ctx.params.add(fold(value))}`);
    }
    return `(${parts.join(' AND ')})`;
  });
  if (operator !== Operator.NOT && code === 'identifier' && ors.length > 0 && pinned.every((v) => v !== undefined)) {
    return identifierLookup(ctx, target, code, anyOf(ors), pinned as string[]);
  }
  // :not matches every resource without the token, including those with no value at all.
  return inIndex(ctx, 'sp_token', target, code, anyOf(ors), operator === Operator.NOT);
}

/**
 * A lookup by exact identifiers (MPI matching, the HL7 bridge's batch of 40 identifiers, a
 * conditional create): the matching ids are collected first, in one index probe per value, and
 * the resources then fetched by primary key. As a semi-join (`id IN (SELECT …)`) the plan depends
 * on statistics, and on a table that grew since it was last analyzed (a new database taking an
 * initial load: PostgreSQL believes there is about one Patient) the planner walks every resource
 * of the type and scans the identifier index once for each — quadratic, 88,000 buffers per search
 * at 2,000 patients in bench:hl7. `= ANY(ARRAY(subquery))` runs the subquery once whatever the
 * estimates. Only for a resource's own `identifier`: it matches a handful of resources, so
 * collecting the ids first costs nothing, where a common token (`gender=male`) or a reference's
 * `:identifier` (every Observation of a patient) is better walked in id order under a LIMIT.
 * The ids themselves come from one probe of the index per value (a lateral subquery per value,
 * an equality on the index's leading columns): as `value = ANY(…)` the planner, believing
 * from such statistics that the type has about one identifier, read every identifier row of the
 * type and filtered the values instead — again a walk that grew with the data (4,750 rows per
 * lookup at 4,750 patients, 2.4–3.5 ms of PostgreSQL per converted HL7 message at a 20,000-message
 * backlog in bench:hl7).
 */
function identifierLookup(ctx: ConditionContext, target: SearchTarget, code: string, where: string, values: string[]): string {
  if (ctx.role === 'probe') {
    return inIndex(ctx, 'sp_token', target, code, where);
  }
  const a = ctx.params.alias('x');
  const v = ctx.params.alias('v');
  const m = ctx.params.alias('m');
  const cond = where.replaceAll('{a}', a);
  // OFFSET 0 keeps the probe a subquery run per value: pulled up into a plain join, it may be
  // planned as a hash join over every identifier row of the type (what the statistics call one row).
  const probe = `SELECT ${a}.id FROM ${indexSource('sp_token', target.resourceType)} ${a} WHERE ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND ${a}.code = ${ctx.params.add(code)} AND ${a}.value = ${v}.value AND (${cond}) OFFSET 0`;
  const list = `unnest(${ctx.params.add([...new Set(values)])}::text[]) AS ${v}(value)`;
  return `${target.idExpr} = ANY(ARRAY(SELECT ${m}.id FROM ${list} CROSS JOIN LATERAL (${probe}) ${m}))`;
}

/** `code` is where the parameter's rows are stored (indexedCode). */
function stringCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter, code: string): string {
  const values = splitSearchValues(filter.value);
  let ors: string[];
  switch (filter.operator) {
    case Operator.EQUALS:
    case Operator.STARTS_WITH:
      // A range, not LIKE 'v%': see prefix-range.ts (the search stays a prepared statement).
      ors = normalizedValues(values).map((v) => prefixRangeCondition('{a}.value', v, (x) => ctx.params.add(x)));
      break;
    case Operator.EXACT:
      ors = values.map((v) => `{a}.raw = ${ctx.params.add(v)}`);
      break;
    case Operator.CONTAINS:
      ors = normalizedValues(values).map((v) => `{a}.value LIKE ${ctx.params.add(`%${likeEscape(v)}%`)}`);
      break;
    case Operator.TEXT:
      ors = [textCondition(ctx, values)];
      break;
    default:
      throw invalid(`Modifier :${filter.operator} is not supported for string parameter ${filter.code}`, filter.code);
  }
  return inIndex(ctx, 'sp_string', target, code, anyOf(ors));
}

/**
 * The URI itself and every ancestor by path segment ("http://x.org/a/b" → "http://x.org/a",
 * "http://x.org", with and without trailing slash): what `:above` matches, as an indexable list.
 */
export function uriAncestors(uri: string): string[] {
  const out = new Set([uri]);
  const scheme = uri.indexOf('://');
  const pathStart = scheme >= 0 ? uri.indexOf('/', scheme + 3) : -1;
  if (pathStart < 0) {
    return [...out];
  }
  for (let i = pathStart; i >= 0 && i < uri.length; i = uri.indexOf('/', i + 1)) {
    out.add(uri.slice(0, i));
    out.add(uri.slice(0, i + 1));
  }
  return [...out];
}

function uriCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const values = splitSearchValues(filter.value);
  let ors: string[];
  switch (filter.operator) {
    case Operator.EQUALS:
    case Operator.EXACT:
    case Operator.NOT:
      ors = values.map((v) => `{a}.value = ${ctx.params.add(v)}`);
      break;
    case Operator.BELOW:
      // By path segment: ".../vitals" covers ".../vitals/x" but not ".../vitals-extended".
      ors = values.map((v) => {
        const prefix = v.endsWith('/') ? v : `${v}/`;
        return `({a}.value = ${ctx.params.add(v)} OR ${prefixRangeCondition('{a}.value', prefix, (x) => ctx.params.add(x))})`;
      });
      break;
    case Operator.ABOVE:
      ors = values.map((v) => `{a}.value = ANY(${ctx.params.add(uriAncestors(v))}::text[])`);
      break;
    default:
      throw invalid(`Modifier :${filter.operator} is not supported for uri parameter ${filter.code}`, filter.code);
  }
  return inIndex(ctx, 'sp_uri', target, filter.code, anyOf(ors), filter.operator === Operator.NOT);
}

/**
 * Comparison of an indexed range [lo, hi) against the search range [slo, shi), per the prefix
 * definitions of FHIR R4 search (a value "ge" the search value is one "gt" or "eq" to it).
 * The bounds are bound lazily: a parameter PostgreSQL never sees in the SQL has no type.
 */
function rangeComparison(operator: string, lo: string, hi: string, slo: () => string, shi: () => string, code: string): string {
  // `lo < shi` follows from the other two (lo < hi); stated, it gives the planner a one-column
  // range it can estimate, instead of two independent bounds it would multiply into a guess.
  const contained = () => {
    const end = shi();
    return `(${lo} >= ${slo()} AND ${lo} < ${end} AND ${hi} <= ${end})`;
  };
  switch (operator) {
    case Operator.EQUALS:
      return contained();
    case Operator.NOT_EQUALS:
      return `NOT ${contained()}`;
    case Operator.GREATER_THAN:
      return `${hi} > ${shi()}`;
    case Operator.LESS_THAN:
      return `${lo} < ${slo()}`;
    case Operator.GREATER_THAN_OR_EQUALS:
      return `(${hi} > ${shi()} OR ${contained()})`;
    case Operator.LESS_THAN_OR_EQUALS:
      return `(${lo} < ${slo()} OR ${contained()})`;
    case Operator.STARTS_AFTER:
      return `${lo} >= ${shi()}`;
    case Operator.ENDS_BEFORE:
      return `${hi} <= ${slo()}`;
    case Operator.APPROXIMATELY:
      return `(${lo} < ${shi()} AND ${hi} > ${slo()})`;
    default:
      throw invalid(`Prefix or modifier "${operator}" is not supported for ${code}`, code);
  }
}

/**
 * The same comparisons for an instant `t` (a point, such as meta.lastUpdated). Written on the
 * bare column so the resource table's last_updated index applies.
 */
function instantComparison(operator: string, t: string, slo: () => string, shi: () => string, code: string): string {
  switch (operator) {
    case Operator.EQUALS:
    case Operator.APPROXIMATELY:
      return `(${t} >= ${slo()} AND ${t} < ${shi()})`;
    case Operator.NOT_EQUALS:
      return `NOT (${t} >= ${slo()} AND ${t} < ${shi()})`;
    case Operator.GREATER_THAN:
    case Operator.STARTS_AFTER:
      return `${t} >= ${shi()}`;
    case Operator.LESS_THAN:
    case Operator.ENDS_BEFORE:
      return `${t} < ${slo()}`;
    case Operator.GREATER_THAN_OR_EQUALS:
      return `${t} >= ${slo()}`;
    case Operator.LESS_THAN_OR_EQUALS:
      return `${t} < ${shi()}`;
    default:
      throw invalid(`Prefix or modifier "${operator}" is not supported for ${code}`, code);
  }
}

/** The search range of one date value; "ap" widens it by 10% of its distance from now, at least a day. */
function searchDateRange(operator: string, value: string, code: string): { lo: Date; hi: Date } {
  const { lo, hi } = parseDateRange(value, code);
  if (operator !== Operator.APPROXIMATELY) {
    return { lo, hi };
  }
  const margin = Math.max(Math.abs(Date.now() - lo.getTime()) * 0.1, 86_400_000);
  return { lo: new Date(lo.getTime() - margin), hi: new Date(hi.getTime() + margin) };
}

function timestampParams(ctx: ConditionContext, range: { lo: Date; hi: Date }): [() => string, () => string] {
  return [() => `${ctx.params.add(toTimestamp(range.lo))}::timestamptz`, () => `${ctx.params.add(toTimestamp(range.hi))}::timestamptz`];
}

function dateCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const ors = prefixedAlternatives(filter).map(([op, v]) => {
    const [slo, shi] = timestampParams(ctx, searchDateRange(op, v, filter.code));
    return rangeComparison(op, '{a}.lo', '{a}.hi', slo, shi, filter.code);
  });
  // Every prefix, "ne" included, compares existing values: a resource without one matches none.
  return inIndex(ctx, 'sp_date', target, filter.code, anyOf(ors));
}

function numericComparison(ctx: ConditionContext, operator: string, column: string, raw: string, code: string): string {
  const { exact, half } = parseNumberValue(raw, code);
  const v = `${ctx.params.add(exact)}::numeric`;
  const equal = () => {
    if (half === '0') {
      return `${column} = ${v}`;
    }
    const h = `${ctx.params.add(half)}::numeric`;
    return `(${column} >= ${v} - ${h} AND ${column} < ${v} + ${h})`;
  };
  switch (operator) {
    case Operator.EQUALS:
      return equal();
    case Operator.NOT_EQUALS:
      return `NOT ${equal()}`;
    case Operator.GREATER_THAN:
    case Operator.STARTS_AFTER:
      return `${column} > ${v}`;
    case Operator.LESS_THAN:
    case Operator.ENDS_BEFORE:
      return `${column} < ${v}`;
    case Operator.GREATER_THAN_OR_EQUALS:
      return `${column} >= ${v}`;
    case Operator.LESS_THAN_OR_EQUALS:
      return `${column} <= ${v}`;
    case Operator.APPROXIMATELY:
      // least/greatest keep the 10% band the right way round for negative values.
      return `(${column} >= least(${v} * 0.9, ${v} * 1.1) AND ${column} <= greatest(${v} * 0.9, ${v} * 1.1))`;
    default:
      throw invalid(`Prefix or modifier "${operator}" is not supported for ${code}`, code);
  }
}

function numberCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const ors = prefixedAlternatives(filter).map(([op, v]) => numericComparison(ctx, op, '{a}.value', v, filter.code));
  return inIndex(ctx, 'sp_number', target, filter.code, anyOf(ors));
}

/** `[prefix]value|system|code`; `value||unit` matches the unit code or the human unit. */
function quantityCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const ors = prefixedAlternatives(filter).map(([op, v]) => {
    const [num, system, unit, ...rest] = v.split('|');
    if (rest.length > 0) {
      throw invalid(`Invalid quantity "${v}" for search parameter ${filter.code}: expected number|system|code`, filter.code);
    }
    const parts = [numericComparison(ctx, op, '{a}.value', num, filter.code)];
    if (system) {
      parts.push(`{a}.system = ${ctx.params.add(system)}`);
    }
    if (unit) {
      const u = ctx.params.add(unit);
      parts.push(`({a}.unit_code = ${u} OR {a}.unit = ${u})`);
    }
    return `(${parts.join(' AND ')})`;
  });
  return inIndex(ctx, 'sp_quantity', target, filter.code, anyOf(ors));
}

/** One reference search value as a condition on sp_reference rows: local "Type/id", bare id, or literal text. */
function referenceValueCondition(ctx: ConditionContext, sp: SearchParameter, raw: string): string {
  const v = raw.startsWith(ctx.fhirBaseUrl) ? raw.slice(ctx.fhirBaseUrl.length) : raw;
  const local = LOCAL_REFERENCE_RE.exec(v);
  if (local) {
    return `({a}.target_type = ${ctx.params.add(local[1])} AND {a}.target_id = ${ctx.params.add(local[2])})`;
  }
  if (ID_RE.test(v)) {
    const targets = sp.target ?? [];
    return targets.length === 1
      ? `({a}.target_type = ${ctx.params.add(targets[0])} AND {a}.target_id = ${ctx.params.add(v)})`
      : `{a}.target_id = ${ctx.params.add(v)}`;
  }
  // Anything else (another server's URL, a canonical) matches the reference text as written.
  return `{a}.reference = ${ctx.params.add(raw)}`;
}

function referenceCondition(ctx: ConditionContext, target: SearchTarget, sp: SearchParameter, filter: Filter): string {
  if (filter.operator === Operator.IDENTIFIER) {
    return tokenCondition(ctx, target, { code: `${filter.code}:identifier`, operator: Operator.EQUALS, value: filter.value });
  }
  if (filter.operator !== Operator.EQUALS && filter.operator !== Operator.NOT) {
    throw invalid(`Modifier :${filter.operator} is not supported for reference parameter ${filter.code}`, filter.code);
  }
  const ors = splitSearchValues(filter.value).map((raw) => referenceValueCondition(ctx, sp, raw));
  return inIndex(ctx, 'sp_reference', target, filter.code, anyOf(ors), filter.operator === Operator.NOT);
}

function idCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const values = splitSearchValues(filter.value);
  const negate = filter.operator === Operator.NOT || filter.operator === Operator.NOT_EQUALS;
  if (filter.operator !== Operator.EQUALS && !negate && filter.operator !== Operator.EXACT) {
    throw invalid(`Modifier :${filter.operator} is not supported for _id`, '_id');
  }
  return `${negate ? 'NOT ' : ''}(${target.idExpr} = ANY(${ctx.params.add(values)}::text[]))`;
}

function lastUpdatedCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const ors = prefixedAlternatives(filter).map(([op, v]) => {
    const [slo, shi] = timestampParams(ctx, searchDateRange(op, v, '_lastUpdated'));
    return instantComparison(op, '{a}.last_updated', slo, shi, '_lastUpdated');
  });
  if (target.rowAlias) {
    return `(${anyOf(ors).replaceAll('{a}', target.rowAlias)})`;
  }
  const a = ctx.params.alias('lu');
  return `${target.idExpr} IN (SELECT ${a}.id FROM resource ${a} WHERE ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND NOT ${a}.deleted AND (${anyOf(ors).replaceAll('{a}', a)}))`;
}

function compartmentCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const ors = splitSearchValues(filter.value).map((v) => {
    const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(v);
    if (!m) {
      throw invalid(`Invalid compartment "${v}"`, '_compartment');
    }
    const a = ctx.params.alias('cp');
    const refs = `${target.idExpr} IN (SELECT ${a}.id FROM ${indexSource('sp_reference', target.resourceType)} ${a} WHERE ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND ${a}.target_id = ${ctx.params.add(m[2])} AND ${a}.target_type = ${ctx.params.add(m[1])})`;
    return target.resourceType === m[1] ? `(${refs} OR ${target.idExpr} = ${ctx.params.add(m[2])})` : refs;
  });
  return `(${anyOf(ors)})`;
}

/** Parses "param" or "param:Type" of a chain link. */
function parseLink(link: string): { code: string; type?: string } {
  const [code, type, ...rest] = link.split(':');
  if (rest.length > 0 || !code) {
    throw invalid(`Invalid chained parameter link "${link}"`, link);
  }
  return { code, type };
}

/** The parameter name a filter code starts with: "subject" of "subject:Patient.name", "name" of "name:exact". */
function baseCode(code: string): string {
  return code.split(/[.:]/)[0];
}

/** Whether a type can answer a filter at all (for multi-type searches and chain targets). */
export function typeKnowsFilter(resourceType: string, code: string): boolean {
  if (code === '_has' || code.startsWith('_has:')) {
    return true;
  }
  const base = baseCode(code);
  return SPECIAL_PARAMS.has(base) || !!getSearchParameter(resourceType, base);
}

/**
 * `subject:Patient.name=smith` — resources whose reference parameter points at a resource that
 * itself matches the rest of the chain.
 */
function chainCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const dot = filter.code.indexOf('.');
  const link = parseLink(filter.code.slice(0, dot));
  const rest = filter.code.slice(dot + 1);
  const sp = getSearchParameter(target.resourceType, link.code);
  if (sp?.type !== 'reference') {
    throw invalid(`Chained search needs a reference parameter; "${link.code}" is not one for ${target.resourceType}`, filter.code);
  }
  if (link.type && !(sp.target ?? []).includes(link.type as never)) {
    throw invalid(`${target.resourceType}.${link.code} cannot refer to a ${link.type}`, filter.code);
  }
  const targetTypes = (link.type ? [link.type] : (sp.target ?? [])).filter((t) => typeKnowsFilter(t, rest));
  if (targetTypes.length === 0) {
    throw invalid(`No target type of ${target.resourceType}.${link.code} has the search parameter "${baseCode(rest)}"`, filter.code);
  }
  const a = ctx.params.alias('ch');
  const inner = targetTypes.map((t) => {
    const innerFilter = reparseFilter(t, rest, filter.value);
    const cond = buildFilterCondition({ ...ctx, depth: ctx.depth + 1 }, { resourceType: t, idExpr: `${a}.target_id` }, innerFilter);
    return `(${visible(ctx, t, `${a}.target_id`, `${a}.target_type = ${ctx.params.add(t)} AND ${cond}`)})`;
  });
  return `${target.idExpr} IN (SELECT ${a}.id FROM ${indexSource('sp_reference', target.resourceType)} ${a} WHERE ${a}.resource_type = ${ctx.params.add(target.resourceType)} AND ${a}.code = ${ctx.params.add(link.code)} AND (${inner.join(' OR ')}))`;
}

/** `_has:Observation:patient:code=1234` — resources referenced by a matching resource. */
function hasCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  const parts = filter.code.split(':');
  if (parts.length < 4) {
    throw invalid(`Invalid _has parameter "${filter.code}": expected _has:Type:reference:parameter`, filter.code);
  }
  const [, sourceType, refCode, ...restParts] = parts;
  const sp = getSearchParameter(sourceType, refCode);
  if (sp?.type !== 'reference') {
    throw invalid(`"${refCode}" is not a reference parameter of ${sourceType}`, filter.code);
  }
  const rest = restParts.join(':');
  if (!typeKnowsFilter(sourceType, rest)) {
    throw invalid(`Unknown search parameter "${baseCode(rest)}" for ${sourceType} in ${filter.code}`, filter.code);
  }
  const a = ctx.params.alias('hs');
  const innerFilter = reparseFilter(sourceType, rest, filter.value);
  const cond = buildFilterCondition({ ...ctx, depth: ctx.depth + 1 }, { resourceType: sourceType, idExpr: `${a}.id` }, innerFilter);
  const where = `${a}.resource_type = ${ctx.params.add(sourceType)} AND ${a}.code = ${ctx.params.add(refCode)} AND ${a}.target_type = ${ctx.params.add(target.resourceType)} AND ${cond}`;
  return `${target.idExpr} IN (SELECT ${a}.target_id FROM ${indexSource('sp_reference', sourceType)} ${a} WHERE ${visible(ctx, sourceType, `${a}.id`, where)})`;
}

/** Re-reads the tail of a chain as a search on the target type. */
function reparseFilter(resourceType: string, code: string, value: string): Filter {
  if (code.startsWith('_has:') || code.includes('.')) {
    return { code, operator: Operator.EQUALS, value };
  }
  return parseSearchParameter(resourceType, code, value);
}

/**
 * A filter of a multi-type (`_type`) search, parsed again for one of the types. Core parsed it
 * without knowing the type, guessing prefixes; here the type's own parameter decides.
 */
export function filterForType(resourceType: string, filter: Filter): Filter {
  if (filter.code.startsWith('_has:') || filter.code.includes('.')) {
    return filter;
  }
  const modifier = MODIFIERS.has(filter.operator) ? `:${filter.operator}` : '';
  const prefix = PREFIXES.has(filter.operator) && filter.operator !== Operator.EQUALS ? filter.operator : '';
  if (!modifier && !prefix && filter.operator !== Operator.EQUALS) {
    return filter;
  }
  return parseSearchParameter(resourceType, filter.code + modifier, prefix + filter.value);
}

/** The SQL condition for one filter on the target ('TRUE' for an ignored unknown parameter). */
export function buildFilterCondition(ctx: ConditionContext, target: SearchTarget, filter: Filter): string {
  if (ctx.depth > MAX_CHAIN_DEPTH) {
    throw invalid(`Chained and _has parameters may nest at most ${MAX_CHAIN_DEPTH} levels`, filter.code);
  }
  if (filter.code === '_has' || filter.code.startsWith('_has:')) {
    // A bare `_has` is a known parameter used wrongly, not an unknown one to ignore.
    return hasCondition(ctx, target, filter);
  }
  if (filter.code.includes('.')) {
    return chainCondition(ctx, target, filter);
  }
  switch (filter.code) {
    case '_id':
      return idCondition(ctx, target, filter);
    case '_lastUpdated':
      return lastUpdatedCondition(ctx, target, filter);
    case '_compartment':
      return compartmentCondition(ctx, target, filter);
    case '_filter':
      return filterParameterCondition(target.resourceType, filter.value, (f) => buildFilterCondition(ctx, target, f));
    default:
      break;
  }
  const sp = getSearchParameters(target.resourceType)?.[filter.code];
  if (!sp) {
    const message = `Unknown search parameter "${filter.code}" for ${target.resourceType}`;
    if (ctx.strict) {
      throw invalid(message, filter.code);
    }
    ctx.ignored.push(filter.code);
    return 'TRUE';
  }
  if (filter.operator === Operator.MISSING || filter.operator === Operator.PRESENT) {
    return missingCondition(ctx, target, sp, filter);
  }
  switch (sp.type) {
    case 'token':
      return tokenCondition(ctx, target, filter, sp);
    case 'string':
      return stringCondition(ctx, target, filter, indexedCode(target.resourceType, sp));
    case 'uri':
      return uriCondition(ctx, target, filter);
    case 'date':
      return dateCondition(ctx, target, filter);
    case 'number':
      return numberCondition(ctx, target, filter);
    case 'quantity':
      return quantityCondition(ctx, target, filter);
    case 'reference':
      return referenceCondition(ctx, target, sp, filter);
    default:
      throw invalid(`Search parameter ${filter.code} of type ${sp.type} is not supported`, filter.code);
  }
}

/** ORDER BY expression for one sort rule on the resource row `rowAlias`. */
export function sortExpression(ctx: ConditionContext, resourceType: string, rowAlias: string, code: string, descending: boolean): string {
  const dir = descending ? 'DESC' : 'ASC';
  if (code === '_id') {
    return `${rowAlias}.id ${dir}`;
  }
  if (code === '_lastUpdated') {
    return `${rowAlias}.last_updated ${dir}`;
  }
  const sp = getSearchParameters(resourceType)?.[code];
  if (!sp) {
    throw invalid(`Unknown sort parameter "${code}" for ${resourceType}`, '_sort');
  }
  // Several values per resource: ascending sorts by the smallest, descending by the largest.
  const agg = descending ? 'max' : 'min';
  const column: Record<string, string> = {
    token: 'value',
    string: 'value',
    uri: 'value',
    number: 'value',
    quantity: 'value',
    reference: 'reference',
    date: descending ? 'hi' : 'lo',
  };
  const col = column[sp.type as string];
  if (!col) {
    throw invalid(`Cannot sort by ${sp.type} parameter "${code}"`, '_sort');
  }
  const a = ctx.params.alias('s');
  return `(SELECT ${agg}(${a}.${col}) FROM ${indexSource(TABLE_BY_TYPE[sp.type as string], resourceType)} ${a} WHERE ${a}.id = ${rowAlias}.id AND ${a}.resource_type = ${ctx.params.add(resourceType)} AND ${a}.code = ${ctx.params.add(indexedCode(resourceType, sp))}) ${dir} NULLS LAST`;
}
