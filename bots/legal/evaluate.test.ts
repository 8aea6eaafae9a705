import type { Condition, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { evaluate } from './evaluate.ts';
import { caseFacts } from './facts.ts';
import { resolveRuleSet } from './rules.ts';

const AT = '2025-06-01T12:00:00Z';
const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';

interface Vignette {
  complaint?: string;
  age?: number;
  icd10?: string[];
  labs?: Observation[];
  gender?: Patient['gender'];
}

function findings(v: Vignette, jurisdiction = 'US-CA') {
  const patient: Patient = {
    resourceType: 'Patient',
    id: 'p',
    gender: v.gender,
    ...(v.age !== undefined ? { birthDate: `${2025 - v.age - 1}-01-01` } : {}),
  };
  const encounter: Encounter = {
    resourceType: 'Encounter',
    id: 'e',
    status: 'arrived',
    class: { code: 'EMER' },
    ...(v.complaint ? { reasonCode: [{ text: v.complaint }] } : {}),
  };
  const conditions: Condition[] = (v.icd10 ?? []).map((code, i) => ({
    resourceType: 'Condition',
    id: `c${i}`,
    subject: { reference: 'Patient/p' },
    code: { coding: [{ system: ICD, code }] },
  }));
  const facts = caseFacts({ patient, encounter, conditions, observations: v.labs ?? [], at: AT });
  return evaluate(resolveRuleSet(jurisdiction), facts);
}

const ids = (v: Vignette, j?: string) =>
  findings(v, j)
    .findings.map((f) => f.rule.id)
    .sort();

function lab(code: string, extra: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    id: `o-${code}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code }] },
    ...extra,
  };
}

describe('California', () => {
  test('a gunshot wound: a report to law enforcement under Penal Code 11160', () => {
    const result = findings({ complaint: 'GSW to left thigh, bleeding controlled', age: 24 });
    expect(result.findings.map((f) => f.rule.id)).toEqual(['ca-firearm-injury']);
    expect(result.superseded).toEqual([]);
    const [f] = result.findings;
    expect(f.rule.authority?.type).toBe('law-enforcement');
    // "GSW" is read as "gunshot wound" by the triage normalisation.
    expect(f.evidence[0].items[0].what).toMatch(/keyword "gunshot" in "GSW to left thigh/);
    expect(ids({ complaint: 'shot in the leg by a stranger during a robbery, was shot twice', age: 30 })).toEqual(['ca-firearm-injury']);
    expect(ids({ icd10: ['W34.00XA'], age: 30 })).toEqual(['ca-firearm-injury']);
    // Shot during an assault: one report, the assault folded into the firearm injury.
    const both = findings({ complaint: 'assaulted and shot by gun in the arm', age: 30 });
    expect(both.findings.map((x) => x.rule.id)).toEqual(['ca-firearm-injury']);
    expect(both.superseded).toEqual([{ finding: 'assault', by: 'gunshot-wound' }]);
  });

  test('words that only look like it: a flu shot, a denied shooting', () => {
    expect(ids({ complaint: 'fever after flu shot yesterday', age: 30 })).toEqual([]);
    expect(ids({ complaint: 'fell off bike, denies being shot', age: 30 })).toEqual([]);
  });

  test('punched by her boyfriend: domestic violence, reported in California, the assault folded into it', () => {
    const result = findings({ complaint: 'punched in face by boyfriend', age: 28, gender: 'female' });
    expect(result.findings.map((f) => f.rule.id)).toEqual(['ca-domestic-violence']);
    expect(result.superseded).toEqual([{ finding: 'assault', by: 'domestic-violence' }]);
    expect(result.findings[0].evidence[1].items[0].what).toMatch(/intimate partner.*boyfriend/);
  });

  test('suspected child abuse by age; the same signs in an adult are not child abuse', () => {
    expect(ids({ complaint: 'unexplained bruising on back and arms', age: 3 })).toEqual(['ca-child-abuse']);
    expect(ids({ complaint: 'unexplained bruising on back and arms', age: 35 })).toEqual([]);
    expect(ids({ icd10: ['T76.12XA'], age: 9 })).toEqual(['ca-child-abuse']);
    // Without an age the age-dependent rule cannot decide: it says so instead of guessing.
    const unknown = findings({ complaint: 'unexplained bruising' });
    expect(unknown.findings).toEqual([]);
    expect(unknown.notes.join(' ')).toMatch(/child-abuse.*age is unknown/);
  });

  test('an elder neglected by her son: elder abuse', () => {
    const result = findings({ complaint: 'neglected by son, found in soiled bed, dehydrated', age: 84 });
    expect(result.findings.map((f) => f.rule.id)).toEqual(['ca-elder-abuse']);
    expect(result.findings[0].rule.informPatient).toMatch(/164\.512\(c\)\(2\)/);
  });

  test('a crash with a drunk driver is documented, not reported; a crash alone is nothing', () => {
    expect(ids({ complaint: 'MVC, restrained driver, smells of alcohol', age: 40 })).toEqual(['ca-impaired-driving']);
    expect(findings({ complaint: 'MVC restrained driver', age: 40 }).findings).toEqual([]);
    const bac = findings({
      complaint: 'car accident',
      age: 40,
      labs: [lab('5643-2', { valueQuantity: { value: 160, unit: 'mg/dL', code: 'mg/dL' } })],
    });
    expect(bac.findings[0].rule.action).toBe('document');
    expect(bac.findings[0].evidence[1].items[0].what).toMatch(/5643-2 = 160 mg\/dL/);
    expect(ids({ complaint: 'car accident', age: 40, labs: [lab('5643-2', { valueQuantity: { value: 30, unit: 'mg/dL' } })] })).toEqual([]);
  });

  test('a dog bite to the health officer; a spider bite is not reportable', () => {
    expect(ids({ complaint: 'dog bite to right hand', age: 7 })).toEqual(['ca-animal-bite']);
    expect(ids({ complaint: 'spider bite on leg', age: 7 })).toEqual([]);
  });

  test('reportable diseases from diagnoses and positive labs only', () => {
    expect(ids({ icd10: ['A15.0'], age: 50 })).toEqual(['ca-communicable-disease']);
    const positive = lab('94500-6', {
      valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260373001', display: 'Detected' }] },
    });
    const negative = lab('94500-6', {
      valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260415000', display: 'Not detected' }] },
    });
    expect(ids({ age: 50, labs: [positive] })).toEqual(['ca-communicable-disease']);
    expect(ids({ age: 50, labs: [negative] })).toEqual([]);
    expect(ids({ icd10: ['J45.909'], age: 50 })).toEqual([]);
  });
});

describe('New York and the default rules', () => {
  test('New York: gunshot to the police under Penal Law 265.25; elder abuse documented; stab wound for review', () => {
    const [gun] = findings({ complaint: 'gunshot wound abdomen', age: 19 }, 'US-NY').findings;
    expect(gun.rule.legalBasis.statute).toBe('N.Y. Penal Law § 265.25');
    expect(gun.rule.action).toBe('report');
    expect(findings({ complaint: 'neglected by daughter', age: 80 }, 'US-NY').findings[0].rule.action).toBe('document');
    expect(findings({ complaint: 'stabbed in chest', age: 25 }, 'US-NY').findings[0].rule.action).toBe('review');
  });

  test('default: a gunshot is for review (not every state requires it); assault alone is documented', () => {
    expect(findings({ complaint: 'gunshot wound', age: 30 }, 'default').findings[0].rule.action).toBe('review');
    expect(findings({ complaint: 'assaulted at a bar, punched', age: 30 }, 'default').findings.map((f) => f.rule.action)).toEqual([
      'document',
    ]);
  });
});
