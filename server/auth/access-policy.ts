import { type Filter, parseSearchRequest } from '@medplum/core';
import type { AccessPolicy, AccessPolicyResource, ProjectMembershipAccessParameter } from '@medplum/fhirtypes';

/** One grant of an AccessPolicy, with its variables already substituted. */
export interface CompiledRule {
  /** A resource type, or '*' for all. */
  resourceType: string;
  readonly: boolean;
  /** The interactions granted; undefined means all (or all reads when readonly). */
  interactions?: Interaction[];
  /** The criteria's filters (ANDed); undefined means every resource of the type. */
  filters?: Filter[];
  hiddenFields: string[];
  readonlyFields: string[];
}

/**
 * What a caller may do. `undefined` rules mean unrestricted (a project admin without a
 * policy, or the server itself); an empty list means nothing at all.
 */
export interface CompiledPolicy {
  rules?: CompiledRule[];
  /** Project administrators may manage users, clients and policies. */
  admin: boolean;
}

export type Interaction = 'read' | 'vread' | 'search' | 'history' | 'create' | 'update' | 'delete';

const READ_INTERACTIONS: Interaction[] = ['read', 'vread', 'search', 'history'];

/** For one resource type: nothing, everything, or any of these filter sets (OR of ANDs). */
export type TypeAccess = { kind: 'none' } | { kind: 'all' } | { kind: 'some'; criteria: Filter[][] };

/** Resource types that hold the server's own security configuration: admins only. */
export const ADMIN_ONLY_TYPES = new Set([
  'Project',
  'ProjectMembership',
  'ClientApplication',
  'User',
  'AccessPolicy',
  'Login',
  'JsonWebKey',
]);

/** Resource types that exist only as a record: nobody updates or deletes them through the API. */
export const APPEND_ONLY_TYPES = new Set(['AuditEvent']);

export const UNRESTRICTED: CompiledPolicy = { admin: true };

export interface PolicyVariables {
  /** `%profile`: the caller's profile reference, e.g. Practitioner/123. */
  profile?: string;
  /** `%patient`: the patient the caller acts for (profile when it is a Patient). */
  patient?: string;
  /** Further `%name` values from ProjectMembership.access[].parameter. */
  [name: string]: string | undefined;
}

/**
 * The variables of one grant. `%patient` is the profile when it is a Patient, else the patient a
 * RelatedPerson profile belongs to (`relatedPatient`, RelatedPerson.patient); for a family member
 * that record wins over a membership parameter, so a stale parameter cannot widen access.
 */
export function variablesFrom(
  profile: string | undefined,
  parameters: ProjectMembershipAccessParameter[] = [],
  relatedPatient?: string,
): PolicyVariables {
  const vars: PolicyVariables = { profile };
  if (profile?.startsWith('Patient/')) {
    vars.patient = profile;
  }
  for (const p of parameters) {
    if (p.name) {
      vars[p.name] = p.valueReference?.reference ?? p.valueString;
    }
  }
  if (profile?.startsWith('RelatedPerson/') && relatedPatient) {
    vars.patient = relatedPatient;
  }
  return vars;
}

/** Replaces `%name.id` with the id and `%name` with the reference; unknown variables never match. */
function substitute(criteria: string, vars: PolicyVariables): string | undefined {
  let unknown = false;
  const out = criteria.replace(/%([A-Za-z][A-Za-z0-9_-]*)(\.id)?/g, (_m, name: string, idSuffix: string | undefined) => {
    const value = vars[name];
    if (!value) {
      unknown = true;
      return '';
    }
    return idSuffix ? (value.split('/').pop() ?? '') : value;
  });
  return unknown ? undefined : out;
}

function compileRule(rule: AccessPolicyResource, vars: PolicyVariables): CompiledRule | undefined {
  const resourceType = rule.resourceType as string;
  let filters: Filter[] | undefined;
  if (rule.criteria) {
    const criteria = substitute(rule.criteria, vars);
    if (criteria === undefined) {
      // A grant whose variable is not set for this caller grants nothing.
      return undefined;
    }
    filters = parseSearchRequest(criteria).filters ?? [];
  }
  return {
    resourceType,
    readonly: !!rule.readonly,
    interactions: rule.interaction as Interaction[] | undefined,
    filters,
    hiddenFields: rule.hiddenFields ?? [],
    readonlyFields: rule.readonlyFields ?? [],
  };
}

/** Merges the caller's AccessPolicies (a union of grants) into one compiled policy. */
export function compilePolicies(policies: { policy: AccessPolicy; vars: PolicyVariables }[], admin: boolean): CompiledPolicy {
  if (policies.length === 0) {
    return admin ? UNRESTRICTED : { admin: false, rules: [] };
  }
  const rules: CompiledRule[] = [];
  for (const { policy, vars } of policies) {
    for (const rule of policy.resource ?? []) {
      const compiled = compileRule(rule, vars);
      if (compiled) {
        rules.push(compiled);
      }
    }
  }
  return { admin, rules };
}

function grants(rule: CompiledRule, interaction: Interaction): boolean {
  if (rule.interactions) {
    return rule.interactions.includes(interaction) && (!rule.readonly || READ_INTERACTIONS.includes(interaction));
  }
  return !rule.readonly || READ_INTERACTIONS.includes(interaction);
}

function applicable(policy: CompiledPolicy, resourceType: string, interaction: Interaction): CompiledRule[] | undefined {
  if (!policy.rules) {
    return undefined;
  }
  return policy.rules.filter((r) => (r.resourceType === resourceType || r.resourceType === '*') && grants(r, interaction));
}

/**
 * Answers per compiled policy (typeAccess, hiddenFields, readonlyFields): a policy does not change
 * once compiled (a new version of the AccessPolicy compiles anew), and its rules were filtered on
 * every request, several times for one read.
 */
const answersByPolicy = new WeakMap<CompiledPolicy, Map<string, Record<string, unknown>>>();
/** Resource types remembered per policy at most: the keys are types a request named, valid or not. */
const MAX_TYPES = 1000;

/** The answers remembered for one resource type under `policy` (not kept past MAX_TYPES types). */
function answersFor(policy: CompiledPolicy, resourceType: string): Record<string, unknown> {
  let byType = answersByPolicy.get(policy);
  if (!byType) {
    byType = new Map();
    answersByPolicy.set(policy, byType);
  }
  let answers = byType.get(resourceType);
  if (!answers) {
    answers = Object.create(null) as Record<string, unknown>;
    if (byType.size < MAX_TYPES) byType.set(resourceType, answers);
  }
  return answers;
}

/** Which resources of a type the caller may use for an interaction. */
export function typeAccess(policy: CompiledPolicy, resourceType: string, interaction: Interaction): TypeAccess {
  const answers = answersFor(policy, resourceType);
  answers[interaction] ??= Object.freeze(computeTypeAccess(policy, resourceType, interaction));
  return answers[interaction] as TypeAccess;
}

function computeTypeAccess(policy: CompiledPolicy, resourceType: string, interaction: Interaction): TypeAccess {
  if (ADMIN_ONLY_TYPES.has(resourceType) && !policy.admin) {
    return { kind: 'none' };
  }
  const rules = applicable(policy, resourceType, interaction);
  if (rules === undefined) {
    return { kind: 'all' };
  }
  if (rules.length === 0) {
    return { kind: 'none' };
  }
  if (rules.some((r) => !r.filters || r.filters.length === 0)) {
    return { kind: 'all' };
  }
  return { kind: 'some', criteria: rules.map((r) => r.filters as Filter[]) };
}

/** Fields hidden from this caller: those every granting rule hides. */
export function hiddenFields(policy: CompiledPolicy, resourceType: string): readonly string[] {
  const answers = answersFor(policy, resourceType);
  answers.hidden ??= Object.freeze(computeHiddenFields(policy, resourceType));
  return answers.hidden as readonly string[];
}

function computeHiddenFields(policy: CompiledPolicy, resourceType: string): string[] {
  const rules = applicable(policy, resourceType, 'read');
  if (!rules || rules.length === 0) {
    return [];
  }
  return rules.map((r) => r.hiddenFields).reduce((acc, fields) => acc.filter((f) => fields.includes(f)));
}

/** Fields the caller may not change: those every writing rule protects. */
export function readonlyFields(policy: CompiledPolicy, resourceType: string): readonly string[] {
  const answers = answersFor(policy, resourceType);
  answers.readonly ??= Object.freeze(computeReadonlyFields(policy, resourceType));
  return answers.readonly as readonly string[];
}

function computeReadonlyFields(policy: CompiledPolicy, resourceType: string): string[] {
  const rules = applicable(policy, resourceType, 'update');
  if (!rules || rules.length === 0) {
    return [];
  }
  return rules.map((r) => r.readonlyFields).reduce((acc, fields) => acc.filter((f) => fields.includes(f)));
}

/** Removes hidden fields (top level "name" or nested "a.b") from a resource copy. */
export function removeHiddenFields<T extends object>(resource: T, fields: readonly string[]): T {
  if (fields.length === 0) {
    return resource;
  }
  const copy = structuredClone(resource) as Record<string, unknown>;
  for (const field of fields) {
    deletePath(copy, field.split('.'));
  }
  return copy as T;
}

function deletePath(obj: unknown, path: string[]): void {
  if (!obj || typeof obj !== 'object') {
    return;
  }
  if (Array.isArray(obj)) {
    for (const item of obj) {
      deletePath(item, path);
    }
    return;
  }
  const rec = obj as Record<string, unknown>;
  if (path.length === 1) {
    delete rec[path[0]];
    return;
  }
  deletePath(rec[path[0]], path.slice(1));
}

/** Copies protected fields from the stored version over a caller's update. */
export function restoreReadonlyFields<T extends object>(incoming: T, existing: T | undefined, fields: readonly string[]): T {
  if (fields.length === 0) {
    return incoming;
  }
  const out = { ...(incoming as Record<string, unknown>) };
  for (const field of fields) {
    const key = field.split('.')[0];
    const prior = existing ? (existing as Record<string, unknown>)[key] : undefined;
    if (prior === undefined) {
      delete out[key];
    } else {
      out[key] = prior;
    }
  }
  return out as T;
}
