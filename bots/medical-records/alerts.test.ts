import type { AllergyIntolerance, Medication, MedicationRequest } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { ACT_CODE, detectedIssue, findAlerts } from './alerts.ts';
import { defaultDrugTable, RXNORM } from './drugs.ts';

const drugs = defaultDrugTable();
let n = 0;

function allergy(text: string, extra: Partial<AllergyIntolerance> = {}): AllergyIntolerance {
  return {
    resourceType: 'AllergyIntolerance',
    id: `a${++n}`,
    patient: { reference: 'Patient/p' },
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }],
    },
    code: { text },
    ...extra,
  };
}

function order(concept: MedicationRequest['medicationCodeableConcept'], extra: Partial<MedicationRequest> = {}): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    id: `o${++n}`,
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/p' },
    medicationCodeableConcept: concept,
    ...extra,
  };
}

const amoxicillin = { coding: [{ system: RXNORM, code: '723', display: 'amoxicillin 500 MG Oral Capsule' }] };
const none = new Map<string, Medication>();

describe('drug-allergy conflicts', () => {
  test('penicillin allergy + amoxicillin order: a high-severity ALGY conflict naming both', () => {
    const a = allergy('Penicillin', { criticality: 'high', reaction: [{ manifestation: [{ text: 'anaphylaxis' }], severity: 'severe' }] });
    const o = order(amoxicillin);
    const alerts = findAlerts({ allergies: [a], orders: [o], medications: none }, drugs);
    const conflict = alerts.find((x) => x.kind === 'drug-allergy');
    expect(conflict).toMatchObject({
      actCode: 'ALGY',
      severity: 'high',
      implicated: [`MedicationRequest/${o.id}`, `AllergyIntolerance/${a.id}`],
    });
    expect(conflict?.detail).toMatch(/penicillins.*anaphylaxis, severe.*allergen class/i);
    // The critical allergy is an alert of its own, with what to avoid.
    expect(alerts.find((x) => x.kind === 'critical-allergy')?.detail).toMatch(/Avoid all penicillins.*caution with cephalosporins/);
  });

  test('the order through a Medication resource is recognised too', () => {
    const med: Medication = { resourceType: 'Medication', id: 'm1', code: { text: 'Amoxil 250 mg/5 mL suspension' } };
    const o: MedicationRequest = {
      ...order(undefined),
      medicationCodeableConcept: undefined,
      medicationReference: { reference: 'Medication/m1' },
    };
    const alerts = findAlerts({ allergies: [allergy('amoxicillin')], orders: [o], medications: new Map([['Medication/m1', med]]) }, drugs);
    expect(alerts.map((x) => x.kind)).toEqual(['drug-allergy']);
    expect(alerts[0].detail).toMatch(/contains Amoxicillin/);
  });

  test('same class, cross-reacting: a related-allergy alert; cross-class: low severity', () => {
    const related = findAlerts({ allergies: [allergy('ampicillin')], orders: [order({ text: 'Augmentin' })], medications: none }, drugs);
    expect(related[0]).toMatchObject({ kind: 'related-allergy', actCode: 'RALG', severity: 'moderate' });
    const cross = findAlerts(
      { allergies: [allergy('penicillin')], orders: [order({ text: 'cephalexin 500 mg' })], medications: none },
      drugs,
    );
    expect(cross[0]).toMatchObject({ kind: 'related-allergy', severity: 'low' });
    expect(cross[0].detail).toMatch(/1–2%/);
    const crossCritical = findAlerts(
      { allergies: [allergy('penicillin', { criticality: 'high' })], orders: [order({ text: 'ceftriaxone 1 g IV' })], medications: none },
      drugs,
    );
    expect(crossCritical.find((x) => x.kind === 'related-allergy')?.severity).toBe('moderate');
  });

  test('opioids do not cross-react as a class: morphine allergy + fentanyl is no alert', () => {
    expect(
      findAlerts({ allergies: [allergy('morphine')], orders: [order({ text: 'fentanyl 50 mcg IV' })], medications: none }, drugs),
    ).toEqual([]);
  });

  test('resolved, refuted or entered-in-error allergies and stopped orders do not count', () => {
    const resolved = allergy('penicillin', { clinicalStatus: { coding: [{ code: 'resolved' }] } });
    const refuted = allergy('penicillin', { verificationStatus: { coding: [{ code: 'refuted' }] } });
    const stopped = order(amoxicillin, { status: 'stopped' });
    expect(findAlerts({ allergies: [resolved, refuted], orders: [order(amoxicillin)], medications: none }, drugs)).toEqual([]);
    expect(findAlerts({ allergies: [allergy('penicillin')], orders: [stopped], medications: none }, drugs)).toEqual([]);
  });

  test('a low-criticality allergy gives a moderate conflict', () => {
    const alerts = findAlerts(
      { allergies: [allergy('ibuprofen', { criticality: 'low' })], orders: [order({ text: 'Motrin 400 mg' })], medications: none },
      drugs,
    );
    expect(alerts[0]).toMatchObject({ kind: 'drug-allergy', severity: 'moderate' });
  });
});

describe('duplicate therapy', () => {
  test('two NSAIDs: class duplicate; two acetaminophen products: same-ingredient duplicate', () => {
    const a = order({ text: 'ketorolac 15 mg IV' });
    const b = order({ text: 'ibuprofen 600 mg PO' });
    const c = order({ text: 'Tylenol 1 g PO' });
    const d = order({ text: 'Percocet 5/325 1 tab' });
    const alerts = findAlerts({ allergies: [], orders: [a, b, c, d], medications: none }, drugs);
    expect(alerts.map((x) => x.actCode).sort()).toEqual(['DUPTHPCLS', 'DUPTHPGEN']);
    expect(alerts.find((x) => x.actCode === 'DUPTHPGEN')?.detail).toMatch(/both contain Acetaminophen/);
    expect(alerts.every((x) => x.severity === 'moderate')).toBe(true);
  });

  test('a focus keeps only the alerts about that order; keys are stable', () => {
    const a = order({ text: 'warfarin 5 mg' });
    const b = order({ text: 'enoxaparin 40 mg SC' });
    const c = order({ text: 'lorazepam 1 mg' });
    const all = findAlerts({ allergies: [], orders: [a, b, c], medications: none }, drugs);
    expect(all).toHaveLength(1);
    expect(findAlerts({ allergies: [], orders: [a, b, c], medications: none, focus: `MedicationRequest/${c.id}` }, drugs)).toEqual([]);
    const again = findAlerts({ allergies: [], orders: [b, a, c], medications: none }, drugs);
    expect(again[0].key).toBe(all[0].key);
  });
});

test('as a DetectedIssue: codes, severity, implicated resources, evidence and the key as identifier', () => {
  const [alert] = findAlerts({ allergies: [allergy('penicillin')], orders: [order(amoxicillin)], medications: none }, drugs);
  const issue = detectedIssue(alert, { reference: 'Patient/p' }, '2025-01-01T00:00:00Z');
  expect(issue.code?.coding?.[0]).toEqual({ system: ACT_CODE, code: 'ALGY', display: 'Allergy Alert' });
  expect(issue.severity).toBe('high');
  expect(issue.implicated).toHaveLength(2);
  expect(issue.evidence?.[0].detail?.[0].reference).toMatch(/^AllergyIntolerance\//);
  expect(issue.identifier?.[0].value).toBe(alert.key);
  expect(issue.detail).toBe(alert.detail);
});
