import {
  badRequest,
  FhirFilterComparison,
  type FhirFilterExpression,
  FhirFilterNegation,
  type Filter,
  getSearchParameter,
  OperationOutcomeError,
  Operator,
  parseFilterParameter,
} from '@medplum/core';
import { parseSearchParameter } from './parse.ts';

/** Builds the SQL condition of one ordinary search parameter (conditions.ts's buildFilterCondition). */
export type ConditionBuilder = (filter: Filter) => string;

const ORDERED_TYPES = new Set(['date', 'number', 'quantity']);
const PREFIX_OPERATORS = new Set<string>([
  Operator.GREATER_THAN,
  Operator.LESS_THAN,
  Operator.GREATER_THAN_OR_EQUALS,
  Operator.LESS_THAN_OR_EQUALS,
  Operator.STARTS_AFTER,
  Operator.ENDS_BEFORE,
  Operator.APPROXIMATELY,
]);

function invalid(message: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, '_filter'));
}

/**
 * One `path op value` of a _filter as the `key=value` an ordinary search would send, parsed the
 * same way, so a _filter matches exactly what the equivalent search parameters match. `ne` on
 * types without an ordered `ne` prefix is returned as the negation of `eq`.
 */
function comparisonFilter(resourceType: string, c: FhirFilterComparison): { filter: Filter; negate: boolean } {
  const path = c.path;
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(path)) {
    throw invalid(`_filter path "${path}" is not a search parameter (chained paths are not supported in _filter)`);
  }
  const sp = getSearchParameter(resourceType, path);
  const type = path === '_lastUpdated' ? 'date' : path === '_id' ? 'token' : sp?.type;
  if (!type) {
    // Not ignored as an unknown top-level parameter is: under `or` an ignored term would match everything.
    throw invalid(`Unknown search parameter "${path}" for ${resourceType} in _filter`);
  }
  const parse = (key: string, value: string): Filter => parseSearchParameter(resourceType, key, value);
  switch (c.operator) {
    case Operator.EXACT:
    case Operator.EQUALS:
      return { filter: parse(type === 'string' && c.operator === Operator.EXACT ? `${path}:exact` : path, c.value), negate: false };
    case Operator.NOT_EQUALS:
      return ORDERED_TYPES.has(type)
        ? { filter: parse(path, `ne${c.value}`), negate: false }
        : { filter: parse(type === 'string' ? `${path}:exact` : path, c.value), negate: true };
    case Operator.CONTAINS:
    case Operator.STARTS_WITH:
      if (type !== 'string') {
        throw invalid(`_filter operator "${c.operator === Operator.CONTAINS ? 'co' : 'sw'}" needs a string parameter; ${path} is ${type}`);
      }
      // A plain string search is already a case-insensitive starts-with.
      return { filter: parse(c.operator === Operator.CONTAINS ? `${path}:contains` : path, c.value), negate: false };
    case Operator.PRESENT:
      if (c.value !== 'true' && c.value !== 'false') {
        throw invalid(`_filter "pr" takes true or false, not "${c.value}"`);
      }
      return { filter: parse(`${path}:missing`, c.value === 'true' ? 'false' : 'true'), negate: false };
    case Operator.IN:
    case Operator.NOT_IN:
    case Operator.IDENTIFIER:
      return { filter: parse(`${path}:${c.operator}`, c.value), negate: false };
    default:
      if (PREFIX_OPERATORS.has(c.operator)) {
        if (!ORDERED_TYPES.has(type)) {
          throw invalid(`_filter operator "${c.operator}" needs a date, number or quantity parameter; ${path} is ${type}`);
        }
        return { filter: parse(path, `${c.operator}${c.value}`), negate: false };
      }
      throw invalid(`_filter operator "${c.operator}" is not supported`);
  }
}

function compile(resourceType: string, expr: FhirFilterExpression, build: ConditionBuilder): string {
  if (expr instanceof FhirFilterComparison) {
    const { filter, negate } = comparisonFilter(resourceType, expr);
    const cond = build(filter);
    return negate ? `NOT (${cond})` : `(${cond})`;
  }
  if (expr instanceof FhirFilterNegation) {
    return `NOT (${compile(resourceType, expr.child, build)})`;
  }
  const joiner = expr.keyword === 'and' ? ' AND ' : ' OR ';
  return `(${compile(resourceType, expr.left, build)}${joiner}${compile(resourceType, expr.right, build)})`;
}

/** Parses a `_filter` value (FHIR filter syntax, as @medplum/core reads it). A syntax error is a 400 naming _filter. */
export function parseFilterExpression(value: string): FhirFilterExpression {
  try {
    return parseFilterParameter(value);
  } catch (err) {
    const text = err instanceof OperationOutcomeError ? err.outcome.issue?.[0]?.details?.text : (err as Error).message;
    throw invalid(`Invalid _filter "${value}": ${text ?? 'syntax error'}`);
  }
}

/**
 * The SQL condition of a `_filter` on `resourceType`: each comparison becomes the condition of the
 * equivalent search parameter (same indexes, same AccessPolicy limits), joined with AND/OR/NOT.
 */
export function filterParameterCondition(resourceType: string, value: string, build: ConditionBuilder): string {
  return compile(resourceType, parseFilterExpression(value), build);
}
