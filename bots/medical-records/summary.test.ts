import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { addToRecord, emptyRecord } from './record.ts';
import { buildSummary, escapeXhtml, LOINC, SECTION_ORDER, SECTIONS, sectionCounts } from './summary.ts';

const P = { reference: 'Patient/p' };
const clinical = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code }] });
const category = (code: string) => [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] }];

const resources: Resource[] = [
  { resourceType: 'Patient', id: 'p' },
  {
    resourceType: 'Condition',
    id: 'c1',
    subject: P,
    clinicalStatus: clinical('active'),
    code: { text: 'Asthma' },
    onsetDateTime: '2010-05-01',
  },
  { resourceType: 'Condition', id: 'c2', subject: P, clinicalStatus: clinical('resolved'), code: { text: 'Appendicitis' } },
  {
    resourceType: 'AllergyIntolerance',
    id: 'a1',
    patient: P,
    clinicalStatus: { coding: [{ code: 'active' }] },
    code: { text: 'Penicillin <all forms>' },
    criticality: 'high',
    reaction: [{ manifestation: [{ text: 'anaphylaxis' }] }],
  },
  {
    resourceType: 'MedicationStatement',
    id: 's1',
    status: 'active',
    subject: P,
    medicationCodeableConcept: { text: 'salbutamol inhaler' },
    dosage: [{ text: '2 puffs PRN' }],
  },
  {
    resourceType: 'MedicationRequest',
    id: 'r1',
    status: 'active',
    intent: 'order',
    subject: P,
    medicationReference: { reference: 'Medication/m1' },
    authoredOn: '2025-03-01T10:00:00Z',
  },
  {
    resourceType: 'MedicationRequest',
    id: 'r2',
    status: 'completed',
    intent: 'order',
    subject: P,
    medicationCodeableConcept: { text: 'old antibiotic' },
  },
  { resourceType: 'Medication', id: 'm1', code: { text: 'amoxicillin 500 mg' } },
  {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    category: category('laboratory'),
    code: { coding: [{ system: LOINC, code: '2345-7' }], text: 'Glucose' },
    valueQuantity: { value: 5.1, unit: 'mmol/L' },
    effectiveDateTime: '2025-01-01T08:00:00Z',
  },
  {
    resourceType: 'Observation',
    id: 'o2',
    status: 'final',
    category: category('laboratory'),
    code: { coding: [{ system: LOINC, code: '2345-7' }], text: 'Glucose' },
    valueQuantity: { value: 9.8, unit: 'mmol/L' },
    effectiveDateTime: '2025-03-01T08:00:00Z',
  },
  {
    resourceType: 'Observation',
    id: 'v1',
    status: 'final',
    category: category('vital-signs'),
    code: { coding: [{ system: LOINC, code: '8867-4' }], text: 'Heart rate' },
    valueQuantity: { value: 112, unit: '/min' },
    effectiveDateTime: '2025-03-01T09:00:00Z',
  },
  { resourceType: 'Observation', id: 'x1', status: 'final', code: { text: 'ESI' }, valueInteger: 2 },
  {
    resourceType: 'Procedure',
    id: 'pr1',
    status: 'completed',
    subject: P,
    code: { text: 'Appendectomy' },
    performedDateTime: '2012-06-01',
  },
  {
    resourceType: 'Immunization',
    id: 'i1',
    status: 'completed',
    patient: P,
    vaccineCode: { text: 'Tetanus' },
    occurrenceDateTime: '2020-01-01',
  },
  {
    resourceType: 'Consent',
    id: 'ad1',
    status: 'active',
    patient: P,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'adr' }] },
    category: [{ text: 'DNR order' }],
    provision: { type: 'deny', code: [{ text: 'CPR' }] },
  },
  {
    resourceType: 'Consent',
    id: 'fam',
    status: 'active',
    patient: P,
    scope: { text: 'patient-privacy' },
    category: [{ text: 'family updates' }],
  },
  {
    resourceType: 'Encounter',
    id: 'e-now',
    status: 'arrived',
    class: { code: 'EMER' },
    subject: P,
    period: { start: '2025-03-01T08:30:00Z' },
  },
  {
    resourceType: 'Encounter',
    id: 'e-old',
    status: 'finished',
    class: { code: 'AMB', display: 'ambulatory' },
    subject: P,
    period: { start: '2024-11-02T10:00:00Z' },
    reasonCode: [{ text: 'asthma review' }],
  },
] as Resource[];

describe('the patient summary', () => {
  const record = addToRecord(emptyRecord(), resources);
  const summary = buildSummary(record, {
    patient: P,
    encounter: { reference: 'Encounter/e-now' },
    author: { display: 'agent' },
    now: '2025-03-01T10:05:00Z',
  });
  const section = (key: keyof typeof SECTIONS) => summary.section?.find((s) => s.code?.coding?.[0]?.code === SECTIONS[key].code);

  test('an IPS-like document linked to the encounter, every section with its LOINC code', () => {
    expect(summary.type.coding?.[0]).toMatchObject({ system: LOINC, code: '60591-5' });
    expect(summary.encounter?.reference).toBe('Encounter/e-now');
    expect(summary.section?.map((s) => s.code?.coding?.[0]?.code)).toEqual(SECTION_ORDER.map((k) => SECTIONS[k].code));
    for (const s of summary.section ?? []) {
      expect(s.text?.div).toMatch(/^<div xmlns="http:\/\/www.w3.org\/1999\/xhtml">.*<\/div>$/);
      // cmp-2: an emptyReason only on an empty section.
      expect(!!s.emptyReason).toBe(!s.entry?.length);
    }
  });

  test('each section holds what belongs to it, current items only', () => {
    const entries = (key: keyof typeof SECTIONS) => section(key)?.entry?.map((e) => e.reference);
    expect(entries('problems')).toEqual(['Condition/c1']);
    expect(entries('allergies')).toEqual(['AllergyIntolerance/a1']);
    expect(entries('medications')).toEqual(['MedicationRequest/r1', 'MedicationStatement/s1']);
    expect(entries('results')).toEqual(['Observation/o2']);
    expect(entries('vitals')).toEqual(['Observation/v1']);
    expect(entries('procedures')).toEqual(['Procedure/pr1']);
    expect(entries('immunizations')).toEqual(['Immunization/i1']);
    expect(entries('directives')).toEqual(['Consent/ad1']);
    expect(entries('encounters')).toEqual(['Encounter/e-old']);
  });

  test('readable narratives, escaped', () => {
    expect(section('allergies')?.text?.div).toContain('Penicillin &lt;all forms&gt; (criticality high; anaphylaxis)');
    expect(section('medications')?.text?.div).toContain('amoxicillin 500 mg (ordered 2025-03-01)');
    expect(section('medications')?.text?.div).toContain('salbutamol inhaler — 2 puffs PRN (taking)');
    expect(section('results')?.text?.div).toContain('Glucose: 9.8 mmol/L (2025-03-01 08:00)');
    expect(section('directives')?.text?.div).toContain('DNR order — deny CPR');
    expect(section('encounters')?.text?.div).toContain('2024-11-02 ambulatory — asthma review (finished)');
    expect(escapeXhtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('an empty record says that nothing is recorded, not that nothing exists', () => {
    const empty = buildSummary(emptyRecord(), { patient: P, author: { display: 'agent' }, now: '2025-03-01T10:05:00Z' });
    expect(empty.encounter).toBeUndefined();
    for (const s of empty.section ?? []) {
      expect(s.entry).toBeUndefined();
      expect(s.emptyReason?.coding?.[0]?.code).toBe('unavailable');
      expect(s.text?.div).toMatch(/recorded in this hospital&#39;s record/);
    }
    expect(sectionCounts(summary)).toMatch(/^active problems 1, allergies and intolerances 1, medications 2/);
  });
});
