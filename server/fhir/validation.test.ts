import { OperationOutcomeError, type TypedValueWithPath, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadBaseDefinitions, loadProfiles } from './definitions.ts';
import { validateWithProfile } from './validation.ts';

let profiles: StructureDefinition[];

beforeAll(() => {
  loadBaseDefinitions();
  profiles = [...loadProfiles('./fhir-profiles').profiles.values()];
});

interface Outcome {
  threw: boolean;
  issues: string[];
  collected: Record<string, unknown[]>;
}

/** Issues (sorted) and collected binding values of one validation, whether it threw or returned. */
function outcome(validate: (collect: Record<string, TypedValueWithPath[]>) => OperationOutcomeIssue[]): unknown {
  const tokens: Record<string, TypedValueWithPath[]> = {};
  let issues: OperationOutcomeIssue[];
  let threw = false;
  try {
    issues = validate(tokens);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    threw = true;
    issues = err.outcome.issue ?? [];
  }
  const collected = Object.fromEntries(Object.entries(tokens).map(([k, v]) => [k, v.map((t) => [t.path, t.type, t.value])]));
  return { threw, issues: issues.map((i) => JSON.stringify(i)).sort(), collected };
}

/** A resource of the profile's type and mutations of it: valid or not, each takes a different path. */
function samples(profile: StructureDefinition): Resource[] {
  const resourceType = profile.type as Resource['resourceType'];
  const base = {
    resourceType,
    meta: { profile: [profile.url] },
    status: 'final',
    subject: { reference: 'Patient/p1' },
    code: { coding: [{ system: 'http://loinc.org', code: '59408-5' }] },
    effectiveDateTime: '2026-12-02T10:00:00Z',
    valueQuantity: { value: 91, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    owner: { reference: 'Bot/b1' },
    intent: 'order',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
  } as unknown as Record<string, unknown>;
  return [
    { resourceType } as Resource,
    base as unknown as Resource,
    { ...base, bogus: 1 } as unknown as Resource,
    { ...base, status: 7 } as unknown as Resource,
    { ...base, subject: [{ reference: 'Patient/p1' }] } as unknown as Resource,
    { ...base, code: {} } as unknown as Resource,
    { ...base, extension: [{ url: 'http://example.org/x', valueString: ' ' }] } as unknown as Resource,
    { ...base, contained: [{ resourceType: 'Patient', id: 'c1', name: [{ family: 'X' }] }] } as unknown as Resource,
    { ...base, effectiveDateTime: 'yesterday', note: [{ text: 'n' }], _status: { id: 's' } } as unknown as Resource,
  ];
}

/** Top-level choice elements of a profile (`value` of `Observation.value[x]`). */
function choiceElements(profile: StructureDefinition): string[] {
  return (profile.snapshot?.element ?? [])
    .map((e) => e.path?.split('.') ?? [])
    .filter((parts) => parts.length === 2 && parts[1].endsWith('[x]'))
    .map((parts) => parts[1].slice(0, -3));
}

describe('validateWithProfile', () => {
  test('answers as validateResource with the profile, for every profile and many shapes', () => {
    expect(profiles.length).toBeGreaterThanOrEqual(7);
    let compared = 0;
    let stricter = 0;
    for (const profile of profiles) {
      const choices = choiceElements(profile);
      for (const resource of samples(profile)) {
        const label = `${profile.url} ${JSON.stringify(resource)}`;
        const expected = outcome((tokens) => validateResource(resource, { profile, collect: { tokens } })) as Outcome;
        const actual = outcome((tokens) => validateWithProfile(resource, profile, { collect: { tokens } })) as Outcome;
        // Every issue @medplum/core finds is found.
        expect(actual.issues, label).toEqual(expect.arrayContaining(expected.issues));
        // The one difference: a top-level choice element the profile narrows (ESI's value[x] to
        // CodeableConcept) is held to the profile's types, which @medplum/core checks against the
        // base resource's (choiceTypeIssues in validation.ts reports it there).
        const extra = actual.issues.filter((i) => !expected.issues.includes(i));
        for (const issue of extra) {
          const path = (JSON.parse(issue) as OperationOutcomeIssue).expression?.[0] ?? '';
          expect(
            choices.some((c) => path === `${profile.type}.${c}[x]` || new RegExp(`^${profile.type}\\.${c}[A-Z]\\w*$`).test(path)),
            `${label}: ${issue}`,
          ).toBe(true);
        }
        expect(actual.threw, label).toBe(expected.threw || extra.length > 0);
        if (extra.length === 0) {
          // The same values are collected for the binding checks.
          expect(actual.collected, label).toEqual(expected.collected);
        }
        stricter += extra.length > 0 ? 1 : 0;
        compared++;
      }
    }
    expect(compared).toBe(profiles.length * 9);
    // Valid and invalid resources were among them, and the choice difference did show.
    expect(stricter).toBeGreaterThan(0);
  });

  test('leaves no trace in @medplum/core: a later validation without a profile is unaffected', () => {
    const profile = profiles.find((p) => p.type === 'Task') as StructureDefinition;
    const task = { resourceType: 'Task', status: 'ready', intent: 'order' } as Resource;
    const before = outcome(() => validateResource(task));
    expect((outcome(() => validateWithProfile(task, profile, {})) as Outcome).threw).toBe(true);
    expect(outcome(() => validateResource(task))).toEqual(before);
  });
});
