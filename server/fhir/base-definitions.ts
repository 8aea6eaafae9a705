import { getSearchParameters, type SearchRequest } from '@medplum/core';
import type { Bundle, BundleEntry, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { readStructureDefinitions } from './definitions-cache.ts';

/**
 * The base FHIR R4 StructureDefinitions and SearchParameters, searchable as Medplum's server
 * offers them (it stores them in its database). `MedplumClient.requestSchema` loads a type's schema
 * with `StructureDefinitionList(_filter: "name eq X")` and `SearchParameterList(base: "X")`, and
 * every schema-driven component of @medplum/react (SearchControl, ResourceForm, ResourceTable)
 * waits for it: without these the app's any-resource pages never leave "loading".
 *
 * They are public specification content, so the caller's AccessPolicy does not hide them. Only the
 * lookups that client sends are answered from here (by name / url / type, by base / code); any other
 * criterion leaves the search to the database alone.
 */

type Lookup =
  | { kind: 'StructureDefinition'; by: 'name' | 'url' | 'type'; value: string }
  | { kind: 'SearchParameter'; base: string; code?: string };

/** What a search asks of the base definitions, or undefined when it is not such a lookup. */
export function baseDefinitionLookup(search: SearchRequest): Lookup | undefined {
  const filters = search.filters ?? [];
  if (search.resourceType === 'StructureDefinition' && filters.length === 1) {
    const [f] = filters;
    if (f.operator !== 'eq' && f.operator !== 'exact') return undefined;
    if (f.code === '_filter') {
      const m = /^\s*(name|url|type)\s+eq\s+"?([A-Za-z0-9_:/.-]+)"?\s*$/.exec(f.value);
      return m ? { kind: 'StructureDefinition', by: m[1] as 'name', value: m[2] } : undefined;
    }
    if (f.code === 'name' || f.code === 'url' || f.code === 'type') {
      return { kind: 'StructureDefinition', by: f.code, value: f.value };
    }
  }
  if (search.resourceType === 'SearchParameter' && filters.length >= 1 && filters.length <= 2) {
    const base = filters.find((f) => f.code === 'base' && (f.operator === 'eq' || f.operator === 'exact'));
    const code = filters.find((f) => f.code === 'code' && (f.operator === 'eq' || f.operator === 'exact'));
    if (base && filters.length === (code ? 2 : 1)) return { kind: 'SearchParameter', base: base.value, code: code?.value };
  }
  return undefined;
}

/**
 * Base StructureDefinitions by name, read on first use from the stripped definitions cache (the
 * startup hands those bundles to core and drops them; the workspace pages are what needs them back).
 */
export class BaseDefinitions {
  private byName?: Map<string, StructureDefinition>;

  private structureDefinitions(): Map<string, StructureDefinition> {
    if (!this.byName) {
      this.byName = new Map();
      for (const bundle of readStructureDefinitions()) {
        for (const entry of bundle.entry ?? []) {
          const sd = entry.resource;
          // Profiles on a type (derivation constraint) are not the type's own definition.
          if (sd?.name && sd.derivation !== 'constraint' && !this.byName.has(sd.name)) this.byName.set(sd.name, sd);
        }
      }
    }
    return this.byName;
  }

  /** The base definitions a lookup matches. */
  find(lookup: Lookup): Resource[] {
    if (lookup.kind === 'SearchParameter') {
      // Core indexes a type's parameters together with inherited ones; keep those whose base names it.
      const params = Object.values(getSearchParameters(lookup.base) ?? {}) as SearchParameter[];
      return params.filter(
        (p) => p.base?.includes(lookup.base as SearchParameter['base'][number]) && (!lookup.code || p.code === lookup.code),
      );
    }
    const all = this.structureDefinitions();
    if (lookup.by === 'name') {
      const sd = all.get(lookup.value);
      return sd ? [sd] : [];
    }
    return [...all.values()].filter((sd) => (lookup.by === 'url' ? sd.url === lookup.value : sd.type === lookup.value));
  }
}

/**
 * Adds the base definitions to what the database answered: stored ones (a project's own, same
 * canonical URL or name) come first and win; the base ones all go on the first page, whatever
 * `_count` says. A lookup matches at most a type's few dozen SearchParameters, and FhirRouter's
 * GraphQL passes the default count (20) whatever `_count` the query names, which would cut
 * requestSchema's `SearchParameterList(base: X, _count: 100)` short.
 */
export function withBaseDefinitions<T extends Resource>(
  stored: Bundle<T>,
  base: Resource[],
  search: SearchRequest,
  fhirBaseUrl: string,
): Bundle<T> {
  const entries = stored.entry ?? [];
  const seen = new Set(
    entries.map((e) => {
      const r = e.resource as (Resource & { url?: string; name?: string; code?: string; base?: string[] }) | undefined;
      return r?.resourceType === 'SearchParameter' ? `${r.base?.join(',')}|${r.code}` : (r?.url ?? r?.name);
    }),
  );
  const extra = base.filter((r) => {
    const d = r as Resource & { url?: string; name?: string; code?: string; base?: string[] };
    const key = d.resourceType === 'SearchParameter' ? `${d.base?.join(',')}|${d.code}` : d.url;
    return !seen.has(key) && !(d.resourceType === 'StructureDefinition' && seen.has(d.name));
  });
  const page = (search.offset ?? 0) === 0 ? extra : [];
  const added: BundleEntry<T>[] = page.map((resource) => ({
    ...(resource.id ? { fullUrl: `${fhirBaseUrl}${resource.resourceType}/${resource.id}` } : {}),
    resource: resource as T,
    search: { mode: 'match' },
  }));
  return {
    ...stored,
    entry: [...entries, ...added],
    ...(stored.total !== undefined ? { total: stored.total + extra.length } : {}),
  };
}
