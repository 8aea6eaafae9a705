import { createHash } from 'node:crypto';
import {
  AsAtom,
  type Atom,
  convertToSearchableNumbers,
  convertToSearchableQuantities,
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  convertToSearchableUris,
  DotAtom,
  evalFhirPathTyped,
  FhirPathAtom,
  FunctionAtom,
  getSearchParameterDetails,
  getSearchParameters,
  IndexerAtom,
  parseFhirPath,
  SymbolAtom,
  type TypedValue,
  toTypedValue,
  UnionAtom,
} from '@medplum/core';
import type { Address, HumanName, Period, Resource, SearchParameter, Timing } from '@medplum/fhirtypes';
import { parseDateRange, toTimestamp } from './search/ranges.ts';

/** Parameters answered from columns of the resource table, or not indexed at all. */
export const NON_INDEXED_PARAMS = new Set(['_id', '_lastUpdated', '_compartment', '_project']);

/** Marker system under which core reports display/text of tokens; we index those as strings. */
const TEXT_SYSTEM = '\u0000text';

export interface IndexRows {
  token: [code: string, system: string | null, value: string | null][];
  string: [code: string, value: string, raw: string][];
  date: [code: string, lo: string, hi: string][];
  number: [code: string, value: number][];
  quantity: [code: string, value: number, system: string | null, unit: string | null, unitCode: string | null][];
  reference: [code: string, targetType: string | null, targetId: string | null, reference: string][];
  uri: [code: string, value: string][];
}

/** Where each kind of index row is stored: table, value columns, and their array types for unnest(). */
export const INDEX_TABLES: Record<keyof IndexRows, { table: string; columns: string[]; types: string[] }> = {
  token: { table: 'sp_token', columns: ['code', 'system', 'value'], types: ['text', 'text', 'text'] },
  string: { table: 'sp_string', columns: ['code', 'value', 'raw'], types: ['text', 'text', 'text'] },
  date: { table: 'sp_date', columns: ['code', 'lo', 'hi'], types: ['text', 'timestamptz', 'timestamptz'] },
  number: { table: 'sp_number', columns: ['code', 'value'], types: ['text', 'numeric'] },
  quantity: {
    table: 'sp_quantity',
    columns: ['code', 'value', 'system', 'unit', 'unit_code'],
    types: ['text', 'numeric', 'text', 'text', 'text'],
  },
  reference: {
    table: 'sp_reference',
    columns: ['code', 'target_type', 'target_id', 'reference'],
    types: ['text', 'text', 'text', 'text'],
  },
  uri: { table: 'sp_uri', columns: ['code', 'value'], types: ['text', 'text'] },
};

export const INDEX_KINDS = Object.keys(INDEX_TABLES) as (keyof IndexRows)[];

/**
 * The index rows of many resources as one INSERT ... SELECT FROM unnest(...) per table: column
 * arrays (resource_type, id, then the value columns) for each kind that has rows. `paramOffset`
 * is the number of bind parameters already used by the statement.
 */
export function bulkIndexInserts(
  resources: { resourceType: string; id: string; rows: IndexRows }[],
  paramOffset: number,
): { statements: string[]; params: unknown[][] } {
  const statements: string[] = [];
  const params: unknown[][] = [];
  for (const kind of INDEX_KINDS) {
    const { table, columns, types } = INDEX_TABLES[kind];
    const lists: unknown[][] = [[], [], ...columns.map(() => [])];
    for (const { resourceType, id, rows } of resources) {
      for (const row of rows[kind]) {
        lists[0].push(resourceType);
        lists[1].push(id);
        row.forEach((v, i) => {
          lists[i + 2].push(v);
        });
      }
    }
    if (lists[0].length === 0) {
      continue;
    }
    const start = paramOffset + params.length + 1;
    const casts = ['text', 'text', ...types].map((t, i) => `$${start + i}::${t}[]`).join(', ');
    statements.push(`INSERT INTO ${table} (resource_type, id, ${columns.join(', ')}) SELECT * FROM unnest(${casts})`);
    params.push(...lists);
  }
  return { statements, params };
}

export function emptyIndexRows(): IndexRows {
  return { token: [], string: [], date: [], number: [], quantity: [], reference: [], uri: [] };
}

/**
 * Indexed text is cut to this many UTF-8 bytes: a B-tree row holds at most ~2.7 kB, and a longer
 * value would make the whole write fail. (A prefix still answers prefix searches.)
 */
export const MAX_INDEXED_BYTES = 1000;

export function clampBytes<T extends string | null>(value: T): T {
  if (value === null || value.length * 3 <= MAX_INDEXED_BYTES) {
    return value;
  }
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= MAX_INDEXED_BYTES) {
    return value;
  }
  // Decoding a cut multi-byte sequence yields U+FFFD; drop it so the prefix stays a true prefix.
  return bytes
    .subarray(0, MAX_INDEXED_BYTES)
    .toString('utf8')
    .replace(/\uFFFD$/, '') as T;
}

/** Lower case without diacritics: "Smïth" and "SMITH" both index as "smith". */
export function normalizeString(value: string): string {
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().trim();
}

/** The searchable parameters of a type, without the ones answered from resource columns. */
export function indexedSearchParameters(resourceType: string): SearchParameter[] {
  const params = getSearchParameters(resourceType) ?? {};
  return Object.values(params).filter(
    (sp) => !NON_INDEXED_PARAMS.has(sp.code as string) && sp.type !== 'composite' && sp.type !== 'special' && !!sp.expression,
  );
}

/**
 * Version of the extraction rules in this file. Bump it when they change what a resource indexes
 * as (the date ranges of partial dates, say): every type's fingerprint changes with it, so every
 * existing database is reindexed once at its next start.
 */
const INDEXER_VERSION = 2;

/** A stable hash of a type's parameter definitions: when it changes, the type needs a reindex. */
export function searchParameterFingerprint(resourceType: string): string {
  const parts = indexedSearchParameters(resourceType)
    .map((sp) => `${sp.code}|${sp.type}|${sp.expression}`)
    .sort();
  return createHash('sha256')
    .update(`indexer ${INDEXER_VERSION}\n${parts.join('\n')}`)
    .digest('hex')
    .slice(0, 32);
}

function humanNameStrings(name: HumanName): string[] {
  const parts = [...(name.prefix ?? []), ...(name.given ?? []), name.family, ...(name.suffix ?? [])].filter((p): p is string => !!p);
  const out = [...parts];
  if (name.text) {
    out.push(name.text);
  }
  if (parts.length > 1) {
    out.push(parts.join(' '));
  }
  return out;
}

function addressStrings(address: Address): string[] {
  const parts = [...(address.line ?? []), address.city, address.district, address.state, address.postalCode, address.country].filter(
    (p): p is string => !!p,
  );
  if (address.text) {
    parts.push(address.text);
  }
  return parts;
}

function stringsOf(values: TypedValue[]): string[] {
  const out: string[] = [];
  const rest: TypedValue[] = [];
  for (const v of values) {
    if (v.type === 'HumanName') {
      out.push(...humanNameStrings(v.value as HumanName));
    } else if (v.type === 'Address') {
      out.push(...addressStrings(v.value as Address));
    } else {
      rest.push(v);
    }
  }
  out.push(...convertToSearchableStrings(rest));
  return out;
}

/** [lo, hi) of one date value, or undefined when it is not a date we can read. */
function dateBounds(value: string): [string, string] | undefined {
  try {
    const { lo, hi } = parseDateRange(value, 'date');
    return [toTimestamp(lo), toTimestamp(hi)];
  } catch {
    return undefined;
  }
}

/**
 * The [lo, hi) instant ranges of date-like values. A partial date covers its whole period
 * ("1990-02" is all of February), a Period runs from its start's first to its end's last instant,
 * open ends are unbounded. (Core's toPeriod rolls month ends over into the next month, so the
 * conversion is ours, shared with the parsing of search values.)
 */
function dateRanges(values: TypedValue[]): [string, string][] {
  const out: [string, string][] = [];
  const add = (b: [string, string] | undefined) => {
    if (b) out.push(b);
  };
  for (const { type, value } of values) {
    if (typeof value === 'string') {
      add(dateBounds(value));
    } else if (type === 'Period' && value) {
      const period = value as Period;
      const start = period.start ? dateBounds(period.start) : undefined;
      const end = period.end ? dateBounds(period.end) : undefined;
      if (start || end) {
        out.push([start?.[0] ?? '-infinity', end?.[1] ?? 'infinity']);
      }
    } else if (type === 'Timing' && value) {
      for (const event of (value as Timing).event ?? []) {
        add(dateBounds(event));
      }
    }
  }
  return out;
}

export function parseLocalReference(reference: string): [string | null, string | null] {
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/.*)?$/.exec(reference);
  return m ? [m[1], m[2]] : [null, null];
}

/** Every B-tree-indexed text column of the rows, clamped (sp_string.raw is not indexed: kept whole for :exact). */
function clampRows(rows: IndexRows): IndexRows {
  return {
    ...rows,
    token: rows.token.map(([code, system, value]) => [code, clampBytes(system), clampBytes(value)]),
    string: rows.string.map(([code, value, raw]) => [code, clampBytes(value), raw]),
    uri: rows.uri.map(([code, value]) => [code, clampBytes(value)]),
  };
}

function addUnique<T extends unknown[]>(list: T[], seen: Set<string>, row: T): void {
  const key = JSON.stringify(row);
  if (!seen.has(key)) {
    seen.add(key);
    list.push(row);
  }
}

const parsedExpressions = new WeakMap<SearchParameter, Map<string, FhirPathAtom>>();

/**
 * The parsed FHIRPath of a parameter for one type, computed once per parameter and type. Core's
 * details narrow a multi-type expression to the type, but cannot analyse every valid expression
 * (e.g. `extension('url')`, common in profiles); those are evaluated as written.
 */
function parsedExpression(resourceType: string, sp: SearchParameter): FhirPathAtom {
  let byType = parsedExpressions.get(sp);
  if (!byType) {
    byType = new Map();
    parsedExpressions.set(sp, byType);
  }
  let atom = byType.get(resourceType);
  if (!atom) {
    try {
      atom = getSearchParameterDetails(resourceType, sp).parsedExpression;
    } catch {
      atom = parseFhirPath(sp.expression as string);
    }
    byType.set(resourceType, atom);
  }
  return atom;
}

/** Functions that yield nothing for an empty input (unlike exists(), empty(), count(), not() …). */
const EMPTY_PRESERVING = new Set(['where', 'ofType', 'as', 'resolve', 'first', 'last', 'extension', 'select']);
const BASE_TYPES = new Set(['Resource', 'DomainResource']);

/**
 * The top-level properties a path expression starts from, when it provably yields nothing on a
 * resource that has none of them (undefined when that cannot be shown, e.g. `deceased.exists()`,
 * which yields `false` for a patient without it). A path starting at the resource itself
 * (`Patient.name`) starts from its first property.
 */
function pathRoots(atom: Atom, resourceType: string): Set<string> | undefined {
  if (atom instanceof FhirPathAtom) {
    return pathRoots(atom.child, resourceType);
  }
  if (atom instanceof SymbolAtom) {
    // A type name would be the resource itself (or, for another type, nothing known here).
    return /^[a-z]/.test(atom.name) ? new Set([atom.name]) : undefined;
  }
  if (atom instanceof UnionAtom) {
    const left = pathRoots(atom.left, resourceType);
    const right = pathRoots(atom.right, resourceType);
    return left && right ? new Set([...left, ...right]) : undefined;
  }
  if (atom instanceof AsAtom) {
    return pathRoots(atom.left, resourceType);
  }
  if (atom instanceof IndexerAtom) {
    return pathRoots(atom.left, resourceType);
  }
  if (atom instanceof DotAtom) {
    const { left, right } = atom;
    if (left instanceof SymbolAtom && (left.name === resourceType || BASE_TYPES.has(left.name))) {
      // `Patient.name`: the first step below the resource.
      if (right instanceof SymbolAtom && /^[a-z]/.test(right.name)) {
        return new Set([right.name]);
      }
      if (right instanceof FunctionAtom && right.name === 'extension') {
        return new Set(['extension']);
      }
      return undefined;
    }
    if (right instanceof SymbolAtom || (right instanceof FunctionAtom && EMPTY_PRESERVING.has(right.name))) {
      return pathRoots(left, resourceType);
    }
    return undefined;
  }
  return undefined;
}

const rootsCache = new WeakMap<SearchParameter, Map<string, Set<string> | null>>();

function parameterRoots(resourceType: string, sp: SearchParameter): Set<string> | undefined {
  let byType = rootsCache.get(sp);
  if (!byType) {
    byType = new Map();
    rootsCache.set(sp, byType);
  }
  let roots = byType.get(resourceType);
  if (roots === undefined) {
    roots = pathRoots(parsedExpression(resourceType, sp), resourceType) ?? null;
    byType.set(resourceType, roots);
  }
  return roots ?? undefined;
}

/**
 * Whether the resource has a top-level element for one of `roots`: the property itself, its
 * primitive extension (`_birthDate`) or a choice-type variant (`value` → `valueQuantity`).
 */
function hasAnyRoot(keys: string[], roots: Set<string>): boolean {
  for (const key of keys) {
    const name = key.startsWith('_') ? key.slice(1) : key;
    if (roots.has(name)) {
      return true;
    }
    for (const root of roots) {
      if (name.length > root.length && name.startsWith(root) && name[root.length] >= 'A' && name[root.length] <= 'Z') {
        return true;
      }
    }
  }
  return false;
}

/** Whether buildIndexRows leaves a parameter out for a resource without evaluating it (nothing it reads is there). */
export function skipsParameter(resource: Resource, sp: SearchParameter, keys = Object.keys(resource)): boolean {
  const roots = parameterRoots(resource.resourceType, sp);
  return !!roots && !hasAnyRoot(keys, roots);
}

/**
 * String parameters that index exactly the rows another one of the type does. R4's `phonetic`
 * is `Patient.name` (also on Practitioner and RelatedPerson), as is `name`, and we search both the
 * same way (no phonetic algorithm), so its rows would repeat `name`'s — six of a Patient's ~35
 * index rows, in the costliest table (sp_string: B-tree and trigram GIN). Its rows are not written
 * and its searches read `name`'s. Applied only while both expressions are the same for the type
 * (a custom SearchParameter may redefine either).
 */
const STRING_ALIASES: Record<string, string> = { phonetic: 'name' };
const aliasChecks = new WeakMap<SearchParameter, Map<string, { target: SearchParameter; same: boolean }>>();

/**
 * The branches of a union expression that apply to the type (`Patient.name | Person.name` →
 * `Patient.name` for Patient), as text. Deliberately literal: two expressions that differ in any
 * way are not taken for the same.
 */
function expressionFor(resourceType: string, expression: string): string {
  const branches = expression.split('|').map((b) => b.trim());
  const own = branches.filter((b) => b.startsWith(`${resourceType}.`));
  return (own.length ? own : branches).sort().join(' | ');
}

/** The code under which a parameter's index rows are stored (another parameter's when it is an alias of it). */
export function indexedCode(resourceType: string, sp: SearchParameter): string {
  const code = sp.code as string;
  const targetCode = STRING_ALIASES[code];
  if (!targetCode || sp.type !== 'string') {
    return code;
  }
  const target = getSearchParameters(resourceType)?.[targetCode];
  if (target?.type !== 'string' || !target.expression || !sp.expression) {
    return code;
  }
  let byType = aliasChecks.get(sp);
  if (!byType) {
    byType = new Map();
    aliasChecks.set(sp, byType);
  }
  let check = byType.get(resourceType);
  if (check?.target !== target) {
    check = { target, same: expressionFor(resourceType, sp.expression) === expressionFor(resourceType, target.expression) };
    byType.set(resourceType, check);
  }
  return check.same ? targetCode : code;
}

/** The values a parameter's expression yields for a resource; none when it cannot be evaluated. */
function parameterValues(resource: Resource, sp: SearchParameter): TypedValue[] {
  try {
    return evalFhirPathTyped(parsedExpression(resource.resourceType, sp), [toTypedValue(resource)]);
  } catch {
    return [];
  }
}

/**
 * The (system, value) token rows one token parameter indexes for a resource, exactly as
 * buildIndexRows stores them in sp_token (the subscription matcher compares criteria to them in
 * memory instead of asking the database).
 */
export function tokenIndexRows(resource: Resource, sp: SearchParameter): [system: string | null, value: string | null][] {
  const out: [string | null, string | null][] = [];
  for (const t of convertToSearchableTokens(parameterValues(resource, sp), { textSearchSystem: TEXT_SYSTEM })) {
    if (t.system !== TEXT_SYSTEM) out.push([clampBytes(t.system ?? null), clampBytes(t.value ?? null)]);
  }
  return out;
}

/**
 * The sp_reference rows (target type, target id) that buildIndexRows writes for one reference
 * parameter, for matching criteria in memory (subscriptions); the Reference.identifier tokens it
 * also writes are left out.
 */
export function referenceIndexRows(resource: Resource, sp: SearchParameter): [targetType: string | null, targetId: string | null][] {
  return convertToSearchableReferences(parameterValues(resource, sp))
    .filter((ref) => !ref.startsWith('identifier:'))
    .map((ref) => parseLocalReference(ref));
}

/**
 * Extracts every search-index row of a resource: the values each SearchParameter's FHIRPath
 * expression yields, converted to the shape its type is searched by.
 */
export function buildIndexRows(resource: Resource): IndexRows {
  const rows = emptyIndexRows();
  const seen = new Set<string>();
  const typed = [toTypedValue(resource)];
  const keys = Object.keys(resource);
  for (const sp of indexedSearchParameters(resource.resourceType)) {
    const code = sp.code as string;
    if (indexedCode(resource.resourceType, sp) !== code) {
      // Its rows are another parameter's (searches read those).
      continue;
    }
    if (skipsParameter(resource, sp, keys)) {
      // Nothing the expression reads is there: it would evaluate to no values (pathRoots).
      continue;
    }
    let values: TypedValue[];
    try {
      values = evalFhirPathTyped(parsedExpression(resource.resourceType, sp), typed);
    } catch {
      // An expression that cannot evaluate on this resource (e.g. an unusual choice type) yields no rows.
      continue;
    }
    if (values.length === 0) {
      continue;
    }
    switch (sp.type) {
      case 'string':
        for (const s of stringsOf(values)) {
          addUnique(rows.string, seen, [code, normalizeString(s), s]);
        }
        break;
      case 'token':
        for (const t of convertToSearchableTokens(values, { textSearchSystem: TEXT_SYSTEM })) {
          if (t.system === TEXT_SYSTEM) {
            if (t.value) {
              addUnique(rows.string, seen, [`${code}:text`, normalizeString(t.value), t.value]);
            }
          } else {
            addUnique(rows.token, seen, [code, t.system ?? null, t.value ?? null]);
          }
        }
        break;
      case 'reference':
        for (const ref of convertToSearchableReferences(values)) {
          if (ref.startsWith('identifier:')) {
            const [system, ...valueParts] = ref.slice('identifier:'.length).split('|');
            const system2 = system === 'undefined' ? null : system;
            addUnique(rows.token, seen, [`${code}:identifier`, system2, valueParts.join('|')]);
          } else {
            const [targetType, targetId] = parseLocalReference(ref);
            addUnique(rows.reference, seen, [code, targetType, targetId, ref]);
          }
        }
        // Reference.identifier alongside a literal reference is searchable with :identifier too.
        for (const v of values) {
          const ident = (v.value as { identifier?: { system?: string; value?: string } })?.identifier;
          if (v.type === 'Reference' && ident?.value && (v.value as { reference?: string }).reference) {
            addUnique(rows.token, seen, [`${code}:identifier`, ident.system ?? null, ident.value]);
          }
        }
        break;
      case 'date':
        for (const [lo, hi] of dateRanges(values)) {
          addUnique(rows.date, seen, [code, lo, hi]);
        }
        break;
      case 'number':
        for (const [lo, hi] of convertToSearchableNumbers(values)) {
          for (const n of new Set([lo, hi])) {
            if (typeof n === 'number' && Number.isFinite(n)) {
              addUnique(rows.number, seen, [code, n]);
            }
          }
        }
        break;
      case 'quantity':
        for (const q of convertToSearchableQuantities(values)) {
          if (typeof q.value === 'number' && Number.isFinite(q.value)) {
            addUnique(rows.quantity, seen, [code, q.value, q.system ?? null, q.unit ?? null, q.code ?? null]);
          }
        }
        break;
      case 'uri':
        for (const u of convertToSearchableUris(values)) {
          addUnique(rows.uri, seen, [code, u]);
        }
        break;
      default:
        break;
    }
  }
  return clampRows(rows);
}
