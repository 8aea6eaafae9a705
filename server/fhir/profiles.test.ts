import { readFileSync } from 'node:fs';
import type { DetectedIssue, Observation, StructureDefinition, Task } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { baseDefinitions, buildProfiles } from '../../scripts/build-profiles.ts';
import { type LoadedProfiles, loadProfiles } from './definitions.ts';
import { withSnapshot } from './snapshot.ts';
import { ResourceValidator, Terminology } from './validation.ts';

const ES = 'https://emergisphere.dev/fhir';
let loaded: LoadedProfiles;
let validator: ResourceValidator;

beforeAll(() => {
  loaded = loadProfiles('./fhir-profiles');
  validator = new ResourceValidator(loaded.profiles, new Terminology(loaded.others));
});

const errors = (resource: Parameters<ResourceValidator['issues']>[0]) =>
  validator
    .issues(resource)
    .filter((i) => i.severity === 'error')
    .map((i) => `${i.expression?.[0]}: ${i.details?.text}`);

describe('fhir-profiles/profiles', () => {
  test('every committed snapshot is what `npm run profiles` builds from its differential', () => {
    const built = buildProfiles();
    expect(built.map((b) => b.profile.id)).toEqual([
      'device-vital-sign',
      'ed-encounter',
      'esi-observation',
      'family-consent',
      'legal-report-detectedissue',
      'news2-observation',
      'workflow-task',
    ]);
    for (const { file, profile } of built) {
      expect(JSON.parse(readFileSync(file, 'utf8')), file).toEqual(JSON.parse(JSON.stringify(profile)));
    }
  });

  test('all are loaded by the server', () => {
    for (const id of [
      'ed-encounter',
      'esi-observation',
      'news2-observation',
      'device-vital-sign',
      'legal-report-detectedissue',
      'workflow-task',
    ]) {
      expect(loaded.profiles.has(`${ES}/StructureDefinition/${id}`), id).toBe(true);
    }
  });
});

describe('validation on write with meta.profile', () => {
  const esi = (extra: Partial<Observation> = {}): Observation => ({
    resourceType: 'Observation',
    meta: { profile: [`${ES}/StructureDefinition/esi-observation`] },
    status: 'final',
    code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
    subject: { reference: 'Patient/p1' },
    encounter: { reference: 'Encounter/e1' },
    effectiveDateTime: '2026-12-02T10:00:00Z',
    valueCodeableConcept: { coding: [{ system: `${ES}/CodeSystem/esi`, code: '2' }] },
    method: { coding: [{ system: `${ES}/CodeSystem/observation-method`, code: 'rules' }] },
    note: [{ text: 'ESI 2: danger-zone vitals' }],
    ...extra,
  });

  test('a conforming ESI Observation passes', () => {
    expect(errors(esi())).toEqual([]);
  });

  test('the same resource without the profile is only checked against R4', () => {
    const { meta: _meta, method: _method, note: _note, ...plain } = esi();
    expect(errors(plain)).toEqual([]);
  });

  test('missing required elements, a wrong code and a wrong value type are each reported with their path', () => {
    const { method: _method, note: _note, encounter: _encounter, ...partial } = esi();
    const found = errors({ ...partial, code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } } as Observation);
    expect(found.join('\n')).toMatch(/Observation\.method/);
    expect(found.join('\n')).toMatch(/Observation\.note/);
    expect(found.join('\n')).toMatch(/Observation\.encounter/);
    expect(found.join('\n')).toMatch(/Observation\.code/);
    const notAnEsiLevel = errors(esi({ valueCodeableConcept: { coding: [{ system: `${ES}/CodeSystem/esi`, code: '7' }] } }));
    expect(notAnEsiLevel.join('\n')).toMatch(/"7" is not in the required value set/);
    const wrongType = errors(esi({ valueCodeableConcept: undefined, valueInteger: 2 }));
    expect(wrongType.join('\n')).toMatch(/Observation\.value/);
  });

  test('a workflow Task needs its step, RequestGroup, focus and owner; intent is order', () => {
    const task: Task = {
      resourceType: 'Task',
      meta: { profile: [`${ES}/StructureDefinition/workflow-task`] },
      identifier: [{ system: `${ES}/workflow-task`, value: 'x' }],
      status: 'ready',
      intent: 'plan',
      code: { coding: [{ system: `${ES}/CodeSystem/workflow-step`, code: 'triage' }] },
      authoredOn: '2026-12-02T10:00:00Z',
    };
    const found = errors(task).join('\n');
    expect(found).toMatch(/Task\.basedOn/);
    expect(found).toMatch(/Task\.focus/);
    expect(found).toMatch(/Task\.owner/);
    expect(found).toMatch(/Task\.intent/);
  });

  test('a legal DetectedIssue without evidence or rule is refused', () => {
    const issue: DetectedIssue = {
      resourceType: 'DetectedIssue',
      meta: { profile: [`${ES}/StructureDefinition/legal-report-detectedissue`] },
      status: 'preliminary',
      code: { coding: [{ system: `${ES}/CodeSystem/legal-finding`, code: 'gunshot-wound' }] },
      severity: 'high',
      patient: { reference: 'Patient/p1' },
      identifiedDateTime: '2026-12-02T10:00:00Z',
      implicated: [{ reference: 'Encounter/e1' }],
      detail: 'Report to police',
    };
    const found = errors(issue).join('\n');
    expect(found).toMatch(/DetectedIssue\.evidence/);
    expect(found).toMatch(/DetectedIssue\.reference/);
  });
});

describe('snapshot generation refuses what it does not support', () => {
  const base = () => baseDefinitions().get('Observation') as StructureDefinition;
  const profile = (element: StructureDefinition['differential']): StructureDefinition => ({
    resourceType: 'StructureDefinition',
    url: `${ES}/StructureDefinition/x`,
    name: 'X',
    status: 'draft',
    kind: 'resource',
    abstract: false,
    type: 'Observation',
    derivation: 'constraint',
    differential: element,
  });

  test('unknown paths, slicing, widened cardinality and foreign types', () => {
    expect(() => withSnapshot(profile({ element: [{ path: 'Observation.nope', min: 1 }] }), base())).toThrow(
      /Observation\.nope: no such element/,
    );
    expect(() => withSnapshot(profile({ element: [{ path: 'Observation.component', slicing: { rules: 'open' } }] }), base())).toThrow(
      /slicing is not supported/,
    );
    expect(() => withSnapshot(profile({ element: [{ path: 'Observation.subject', max: '2' }] }), base())).toThrow(/above the base's 1/);
    expect(() => withSnapshot(profile({ element: [{ path: 'Observation.status', min: 1, max: '0' }] }), base())).toThrow(
      /min 1 is above max 0/,
    );
    expect(() => withSnapshot(profile({ element: [{ path: 'Observation.value[x]', type: [{ code: 'Coding' }] }] }), base())).toThrow(
      /type Coding is not one of the base's/,
    );
  });
});
