import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { CodeSystem, CodeSystemConcept, ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from '@medplum/fhirtypes';

/** Finds value sets and code systems by canonical URL (stored ones first, then the shipped ones). */
export interface TerminologyResolver {
  valueSet(url: string): Promise<ValueSet | undefined>;
  codeSystem(url: string): Promise<CodeSystem | undefined>;
}

/** Bounds the work one expansion may do: nested value sets and the number of codes collected. */
const MAX_DEPTH = 8;
export const MAX_EXPANSION = 10_000;

function invalid(message: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

const key = (c: ValueSetExpansionContains): string => `${c.system}|${c.code}`;

/** Every concept of a hierarchy, depth first. */
function flatten(concepts: CodeSystemConcept[] | undefined, out: CodeSystemConcept[] = []): CodeSystemConcept[] {
  for (const c of concepts ?? []) {
    out.push(c);
    flatten(c.concept, out);
  }
  return out;
}

/** A concept of a code system by code, anywhere in its hierarchy. */
export function findConcept(cs: CodeSystem, code: string): CodeSystemConcept | undefined {
  const search = (concepts: CodeSystemConcept[] | undefined): CodeSystemConcept | undefined => {
    for (const c of concepts ?? []) {
      if (c.code === code) return c;
      const inner = search(c.concept);
      if (inner) return inner;
    }
    return undefined;
  };
  return search(cs.concept);
}

function filteredConcepts(cs: CodeSystem, include: ValueSetComposeInclude): CodeSystemConcept[] {
  let concepts = flatten(cs.concept);
  for (const f of include.filter ?? []) {
    if (f.property !== 'concept' && f.property !== 'code') {
      throw invalid(`ValueSet filter on property "${f.property}" is not supported`, 'ValueSet.compose.include.filter');
    }
    const root = findConcept(cs, f.value as string);
    switch (f.op) {
      case 'is-a':
        concepts = root ? concepts.filter((c) => flatten([root]).includes(c)) : [];
        break;
      case 'descendent-of':
        concepts = root ? concepts.filter((c) => flatten(root.concept).includes(c)) : [];
        break;
      case 'is-not-a':
        concepts = root ? concepts.filter((c) => !flatten([root]).includes(c)) : concepts;
        break;
      case '=':
        concepts = concepts.filter((c) => c.code === f.value);
        break;
      default:
        throw invalid(`ValueSet filter operator "${f.op}" is not supported`, 'ValueSet.compose.include.filter');
    }
  }
  return concepts;
}

async function includeCodes(
  include: ValueSetComposeInclude,
  resolver: TerminologyResolver,
  depth: number,
): Promise<ValueSetExpansionContains[]> {
  let codes: ValueSetExpansionContains[] | undefined;
  if (include.system) {
    const system = include.system;
    const cs = await resolver.codeSystem(system);
    if (include.concept) {
      codes = include.concept.map((c) => ({
        system,
        code: c.code,
        display: c.display ?? (cs && findConcept(cs, c.code as string)?.display),
      }));
    } else if (!cs) {
      throw invalid(`Code system ${system} not found`, 'ValueSet.compose.include.system');
    } else if (cs.content !== 'complete' && !cs.concept?.length) {
      throw invalid(`Code system ${system} has no concepts on this server (content: ${cs.content})`, 'ValueSet.compose.include.system');
    } else {
      codes = filteredConcepts(cs, include).map((c) => ({ system, code: c.code, display: c.display }));
    }
  }
  for (const url of include.valueSet ?? []) {
    const nested = await resolver.valueSet(url.split('|')[0]);
    if (!nested) {
      throw invalid(`ValueSet ${url} not found`, 'ValueSet.compose.include.valueSet');
    }
    const inner = await collect(nested, resolver, depth + 1);
    // FHIR: the codes of an include are in the system part AND in every listed value set.
    if (codes) {
      const keys = new Set(inner.map(key));
      codes = codes.filter((c) => keys.has(key(c)));
    } else {
      codes = inner;
    }
  }
  return codes ?? [];
}

/** Every code of a value set (compose.include minus compose.exclude), deduplicated, in definition order. */
export async function collect(vs: ValueSet, resolver: TerminologyResolver, depth = 0): Promise<ValueSetExpansionContains[]> {
  if (depth > MAX_DEPTH) {
    throw invalid(`ValueSet ${vs.url} nests value sets more than ${MAX_DEPTH} levels deep (or includes itself)`);
  }
  if (!vs.compose?.include?.length) {
    if (vs.expansion?.contains) {
      return vs.expansion.contains.map(({ system, code, display }) => ({ system, code, display }));
    }
    throw invalid(`ValueSet ${vs.url ?? vs.id} has no definition (compose.include) to expand`, 'ValueSet.compose.include');
  }
  const seen = new Map<string, ValueSetExpansionContains>();
  for (const include of vs.compose.include) {
    for (const c of await includeCodes(include, resolver, depth)) {
      if (!seen.has(key(c))) seen.set(key(c), c);
      if (seen.size > MAX_EXPANSION) {
        throw new OperationOutcomeError({
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'too-costly',
              details: { text: `ValueSet ${vs.url} has more than ${MAX_EXPANSION} codes; use a filter or a smaller value set` },
            },
          ],
        });
      }
    }
  }
  for (const exclude of vs.compose.exclude ?? []) {
    for (const c of await includeCodes(exclude, resolver, depth)) {
      seen.delete(key(c));
    }
  }
  return [...seen.values()];
}

/** Case-insensitive match of every word of `filter` against the display or the code. */
export function matchesFilter(c: ValueSetExpansionContains, filter: string | undefined): boolean {
  if (!filter?.trim()) return true;
  const haystack = `${c.display ?? ''} ${c.code ?? ''}`.toLowerCase();
  return filter
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => haystack.includes(word));
}

export interface ExpandOptions {
  filter?: string;
  offset: number;
  count: number;
}

/** The value set with an `expansion` holding one page of its (filtered) codes and their total. */
export async function expandValueSet(vs: ValueSet, resolver: TerminologyResolver, options: ExpandOptions): Promise<ValueSet> {
  const all = (await collect(vs, resolver)).filter((c) => matchesFilter(c, options.filter));
  const { compose: _compose, expansion: _old, text: _text, ...meta } = vs;
  const parameter = [
    ...(options.filter ? [{ name: 'filter', valueString: options.filter }] : []),
    { name: 'offset', valueInteger: options.offset },
    { name: 'count', valueInteger: options.count },
  ];
  return {
    ...meta,
    expansion: {
      timestamp: new Date().toISOString(),
      total: all.length,
      offset: options.offset,
      parameter,
      contains: all.slice(options.offset, options.offset + options.count).map(({ system, code, display }) => ({
        system,
        code,
        ...(display ? { display } : {}),
      })),
    },
  };
}
