import {
  getAllDataTypes,
  type InternalTypeSchema,
  isResourceType,
  OperationOutcomeError,
  parseSearchRequest,
  parseStructureDefinition,
  type TypedValueWithPath,
  type ValidatorOptions,
  validateResource,
  validateTypedValue,
} from '@medplum/core';
import type {
  AccessPolicy,
  CodeSystemConcept,
  OperationOutcome,
  OperationOutcomeIssue,
  Resource,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { strippedDefinitions } from './definitions-cache.ts';
import { indexByUrl, type TerminologyIndex } from './terminology/catalog.ts';

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';

/** The codes of a value set, when we can know all of them. */
interface CodeSet {
  codes: Set<string>;
  /** The code systems the set draws from. */
  systems: Set<string>;
  /** The set includes every resource type (also Medplum's, which the R4 code system lacks). */
  resourceTypes: boolean;
}

/** Canonical URLs of EmergiSphere's own conformance resources (fhir-profiles/). */
const OWN_CANONICAL_BASE = 'https://emergisphere.dev/fhir/';

function addConcepts(concepts: CodeSystemConcept[] | undefined, into: Set<string>): void {
  for (const c of concepts ?? []) {
    into.add(c.code as string);
    addConcepts(c.concept, into);
  }
}

/**
 * Expands value sets far enough to check `code` values against required bindings. A value set we
 * cannot expand completely (filters, external code systems such as MIME types or languages)
 * yields undefined, and values bound to it are accepted: a false rejection would be worse than
 * a missed one.
 */
export class Terminology {
  private index?: TerminologyIndex;
  private readonly cache = new Map<string, CodeSet | undefined>();
  private readonly extra: Resource[];

  constructor(extra: Resource[] = []) {
    this.extra = extra;
  }

  private load(): TerminologyIndex {
    // The R4 value sets reduced to their codes, parsed once per process (definitions-cache.ts):
    // the full ones are 9 MB of JSON.
    this.index ??= indexByUrl([...strippedDefinitions().terminology, ...this.extra]);
    return this.index;
  }

  /** Parses the value sets now (a few hundred ms), so the first request does not pay for it. */
  preload(): void {
    this.load();
  }

  codesOf(valueSetUrl: string): CodeSet | undefined {
    const url = valueSetUrl.split('|')[0];
    if (!this.cache.has(url)) {
      // Mark as in progress, so a value set that includes itself ends up "unknown".
      this.cache.set(url, undefined);
      this.cache.set(url, this.expand(url));
    }
    return this.cache.get(url);
  }

  private expand(url: string): CodeSet | undefined {
    const vs = this.load().valueSets.get(url);
    if (!vs?.compose?.include?.length || vs.compose.exclude?.some((e) => !e.concept || e.valueSet || e.filter)) {
      return undefined;
    }
    const result: CodeSet = { codes: new Set(), systems: new Set(), resourceTypes: false };
    for (const include of vs.compose.include) {
      if (include.filter?.length) {
        return undefined;
      }
      for (const nested of include.valueSet ?? []) {
        const inner = this.codesOf(nested);
        if (!inner) {
          return undefined;
        }
        for (const c of inner.codes) {
          result.codes.add(c);
        }
        for (const system of inner.systems) {
          result.systems.add(system);
        }
        result.resourceTypes ||= inner.resourceTypes;
      }
      if (include.system) {
        result.systems.add(include.system);
      }
      if (include.concept) {
        for (const c of include.concept) {
          result.codes.add(c.code as string);
        }
      } else if (include.system) {
        const cs = this.load().codeSystems.get(include.system);
        if (cs?.content !== 'complete') {
          return undefined;
        }
        addConcepts(cs.concept, result.codes);
        result.resourceTypes ||= include.system === RESOURCE_TYPES_SYSTEM;
      }
    }
    for (const exclude of vs.compose.exclude ?? []) {
      for (const c of exclude.concept ?? []) {
        result.codes.delete(c.code as string);
      }
    }
    return result;
  }
}

function issue(code: OperationOutcomeIssue['code'], text: string, expression: string): OperationOutcomeIssue {
  return { severity: 'error', code, details: { text }, expression: [expression] };
}

/**
 * Validation of every write: the base R4 definitions, the profiles named in meta.profile that
 * the server has loaded, and required terminology bindings of `code` elements (which
 * @medplum/core only collects and leaves to the server).
 */
export class ResourceValidator {
  private readonly profiles: Map<string, StructureDefinition>;
  private readonly terminology: Terminology;

  constructor(profiles: Map<string, StructureDefinition>, terminology: Terminology) {
    this.profiles = profiles;
    this.terminology = terminology;
  }

  /** Throws a 400 OperationOutcomeError listing every error found, each with its path. */
  validate(resource: Resource): void {
    const issues = this.issues(resource);
    if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
      const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: issues };
      throw new OperationOutcomeError(outcome);
    }
  }

  /** All issues (errors and warnings) of a resource. */
  issues(resource: Resource): OperationOutcomeIssue[] {
    if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
      return [issue('structure', 'A resource must be a JSON object', 'Resource')];
    }
    if (typeof resource.resourceType !== 'string' || !isResourceType(resource.resourceType)) {
      return [issue('value', `Unknown resource type "${String(resource.resourceType)}"`, 'resourceType')];
    }
    if (resource.id !== undefined && (typeof resource.id !== 'string' || !ID_RE.test(resource.id))) {
      return [issue('value', `Invalid id "${String(resource.id)}"`, `${resource.resourceType}.id`)];
    }
    const issues: OperationOutcomeIssue[] = [];
    issues.push(...this.run(resource, {}));
    for (const url of resource.meta?.profile ?? []) {
      const profile = this.profiles.get(url);
      if (profile) {
        issues.push(...this.run(resource, { profile }), ...choiceTypeIssues(resource, profile));
      }
    }
    return dedupe(issues);
  }

  private run(resource: Resource, options: ValidatorOptions): OperationOutcomeIssue[] {
    const tokens: Record<string, TypedValueWithPath[]> = {};
    let issues: OperationOutcomeIssue[];
    try {
      issues = options.profile
        ? validateWithProfile(resource, options.profile, { ...options, profile: undefined, collect: { tokens } })
        : validateResource(resource, { ...options, collect: { tokens } });
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) {
        throw err;
      }
      issues = err.outcome.issue ?? [];
    }
    return [...relaxConstraints(resource, issues), ...this.bindingIssues(tokens)];
  }

  private bindingIssues(tokens: Record<string, TypedValueWithPath[]>): OperationOutcomeIssue[] {
    const issues: OperationOutcomeIssue[] = [];
    for (const [valueSet, values] of Object.entries(tokens)) {
      for (const value of values) {
        if ((value.type === 'CodeableConcept' || value.type === 'Coding') && valueSet.startsWith(OWN_CANONICAL_BASE)) {
          issues.push(...this.codingIssues(valueSet, value));
          continue;
        }
        if (value.type !== 'code' || typeof value.value !== 'string') {
          continue;
        }
        const set = this.terminology.codesOf(valueSet);
        if (!set || set.codes.has(value.value) || (set.resourceTypes && isResourceType(value.value))) {
          continue;
        }
        const url = valueSet.split('|')[0];
        issues.push(issue('code-invalid', `Value "${value.value}" is not in the required value set ${url}`, value.path));
      }
    }
    return issues;
  }

  /**
   * A required binding on a CodeableConcept or Coding of one of our own value sets: a coding from
   * the set's code systems must be there, and its code must be in the set. (Only our own sets: the
   * R4 ones are left as Medplum leaves them, so existing clients keep working.)
   */
  private codingIssues(valueSet: string, value: TypedValueWithPath): OperationOutcomeIssue[] {
    const set = this.terminology.codesOf(valueSet);
    if (!set) {
      return [];
    }
    const url = valueSet.split('|')[0];
    const concept = value.value as { coding?: { system?: string; code?: string }[] } & { system?: string; code?: string };
    const codings = value.type === 'Coding' ? [concept] : (concept?.coding ?? []);
    const relevant = codings.filter((c) => c?.system && set.systems.has(c.system));
    if (relevant.length === 0) {
      return [issue('code-invalid', `A coding from the required value set ${url} is missing`, value.path)];
    }
    if (relevant.some((c) => typeof c.code === 'string' && set.codes.has(c.code))) {
      return [];
    }
    return [issue('code-invalid', `Value "${relevant[0].code}" is not in the required value set ${url}`, value.path)];
  }
}

/** Profiles as @medplum/core's validator uses them, parsed once per loaded StructureDefinition. */
const parsedProfiles = new WeakMap<StructureDefinition, InternalTypeSchema>();
/** The name a parsed profile is known by while a resource is validated against it. */
const PROFILE_TYPE = 'emergisphere-profile-under-validation';

/**
 * What `validateResource(resource, { profile })` answers, without its cost: @medplum/core parses
 * the profile given to it on every call (~1.1 ms of the ~1.3 ms a workflow Task's profile check
 * took). Its validator takes a parsed schema only by type name, from its registry of data types,
 * so the parsed profile sits there under a name of its own for the length of this synchronous
 * call, and is gone before anything else can look (getResourceTypes, GraphQL never see it). The
 * schema keeps the profile's element paths (`Task.owner`), so issues read as before;
 * validation.test.ts compares both ways over valid and invalid resources of every profile.
 */
export function validateWithProfile(resource: Resource, profile: StructureDefinition, options: ValidatorOptions): OperationOutcomeIssue[] {
  let schema = parsedProfiles.get(profile);
  if (!schema) {
    schema = parseStructureDefinition(profile);
    parsedProfiles.set(profile, schema);
  }
  const registry = getAllDataTypes();
  registry[PROFILE_TYPE] = schema;
  try {
    return validateTypedValue({ type: PROFILE_TYPE, value: resource }, options);
  } finally {
    delete registry[PROFILE_TYPE];
  }
}

/**
 * A profile that narrows a top-level choice element (`Observation.value[x]` to CodeableConcept, say)
 * is not enforced by @medplum/core's validator, which accepts any of the base's types there.
 */
function choiceTypeIssues(resource: Resource, profile: StructureDefinition): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  for (const el of profile.snapshot?.element ?? []) {
    const parts = el.path?.split('.') ?? [];
    if (parts.length !== 2 || !parts[1].endsWith('[x]') || !el.type?.length) {
      continue;
    }
    const name = parts[1].slice(0, -3);
    const allowed = new Set(el.type.map((t) => t.code?.toLowerCase()));
    for (const key of Object.keys(resource)) {
      if (key.length > name.length && key.startsWith(name) && /[A-Z]/.test(key[name.length])) {
        const type = key.slice(name.length).toLowerCase();
        if (!allowed.has(type)) {
          const expected = el.type.map((t) => t.code).join(', ');
          issues.push(
            issue('structure', `${key} is not allowed by profile ${profile.url}: ${el.path} must be ${expected}`, `${parts[0]}.${key}`),
          );
        }
      }
    }
  }
  return issues;
}

/**
 * Medplum's AccessPolicy constraint axp-3 allows only plain `name=value` criteria because its
 * server evaluates criteria in memory. Ours evaluates them in SQL, so chained criteria
 * (`Observation?device:Device.organization=%organization`) work; we check instead that the
 * criteria parse as a search on the rule's own resource type.
 */
function relaxConstraints(resource: Resource, issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  if (resource.resourceType !== 'AccessPolicy') {
    return issues;
  }
  const kept = issues.filter((i) => !i.details?.text?.startsWith('Constraint axp-3 not met'));
  (resource as AccessPolicy).resource?.forEach((rule, index) => {
    if (!rule.criteria) {
      return;
    }
    const path = `AccessPolicy.resource[${index}].criteria`;
    const type = rule.resourceType === '*' ? '' : rule.resourceType;
    if (!rule.criteria.startsWith(`${type}?`) || rule.criteria.includes('_has:')) {
      kept.push(issue('invariant', `Criteria must be a search on ${rule.resourceType}, e.g. ${rule.resourceType}?name=value`, path));
      return;
    }
    try {
      parseSearchRequest(rule.criteria.replace(/%[A-Za-z][A-Za-z0-9_-]*(\.id)?/g, 'x'));
    } catch {
      kept.push(issue('invariant', `Criteria "${rule.criteria}" is not a valid search`, path));
    }
  });
  return kept;
}

function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.severity}|${i.code}|${i.details?.text}|${i.expression?.join()}`;
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}
