/**
 * Snapshot generation for EmergiSphere's own profiles. Profiles are written as differentials (what
 * they change); the validator needs the full element list. This covers what our profiles use —
 * cardinality, type restriction, fixed and pattern values, bindings, mustSupport, constraints and
 * documentation on existing paths — and refuses what it does not cover (slicing, extensions
 * definitions, paths the base type does not have) with a message naming the element, so a profile
 * never silently validates less than it says.
 */
import type { ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

/** Differential keys copied onto the snapshot element as they are. */
const REPLACED = ['short', 'definition', 'comment', 'requirements', 'mustSupport', 'binding', 'type', 'min', 'max'] as const;
const UNSUPPORTED = ['slicing', 'sliceName', 'contentReference'] as const;

function cardinalityMax(max: string | undefined): number {
  return max === undefined || max === '*' ? Number.POSITIVE_INFINITY : Number(max);
}

function fail(profile: StructureDefinition, path: string, message: string): never {
  throw new Error(`Profile ${profile.url ?? profile.id}: ${path}: ${message}`);
}

function fixedOrPatternKeys(el: ElementDefinition): string[] {
  return Object.keys(el).filter((k) => /^(fixed|pattern)[A-Z]/.test(k));
}

function mergeElement(profile: StructureDefinition, base: ElementDefinition, diff: ElementDefinition): ElementDefinition {
  const path = diff.path as string;
  for (const key of UNSUPPORTED) {
    if (diff[key] !== undefined) fail(profile, path, `${key} is not supported by the snapshot generator`);
  }
  const merged: ElementDefinition = structuredClone(base);
  const target = merged as unknown as Record<string, unknown>;
  const source = diff as unknown as Record<string, unknown>;
  for (const key of [...REPLACED, ...fixedOrPatternKeys(diff)]) {
    if (source[key] !== undefined) target[key] = structuredClone(source[key]);
  }
  if (diff.constraint) merged.constraint = [...(base.constraint ?? []), ...structuredClone(diff.constraint)];
  const min = merged.min ?? 0;
  const max = cardinalityMax(merged.max);
  if (min > max) fail(profile, path, `min ${min} is above max ${merged.max}`);
  if (min < (base.min ?? 0)) fail(profile, path, `min ${min} is below the base's ${base.min}`);
  if (max > cardinalityMax(base.max)) fail(profile, path, `max ${merged.max} is above the base's ${base.max}`);
  if (diff.type) {
    const allowed = new Set((base.type ?? []).map((t) => t.code));
    for (const t of diff.type) {
      if (!allowed.has(t.code)) fail(profile, path, `type ${t.code} is not one of the base's (${[...allowed].join(', ')})`);
    }
  }
  return merged;
}

/**
 * The profile with its snapshot built from `base` (the StructureDefinition of `profile.type`) and
 * `profile.differential`. Elements of the base that the differential does not name are kept as they are.
 */
export function withSnapshot(profile: StructureDefinition, base: StructureDefinition): StructureDefinition {
  if (profile.derivation !== 'constraint') fail(profile, profile.type ?? '?', 'only constraint profiles are supported');
  if (base.type !== profile.type) fail(profile, profile.type ?? '?', `base is ${base.type}`);
  const baseElements = base.snapshot?.element ?? [];
  const byPath = new Map(baseElements.map((el) => [el.path as string, el]));
  const diffs = new Map<string, ElementDefinition>();
  for (const el of profile.differential?.element ?? []) {
    const path = el.path ?? '';
    if (!byPath.has(path)) fail(profile, path, `no such element in ${base.type}`);
    if (diffs.has(path)) fail(profile, path, 'named twice in the differential');
    diffs.set(path, el);
  }
  const element = baseElements.map((el) => {
    const diff = diffs.get(el.path as string);
    return diff ? mergeElement(profile, el, diff) : structuredClone(el);
  });
  return { ...profile, snapshot: { element } };
}
