/**
 * What the legal rules look at, taken from the encounter's FHIR resources: the complaint and
 * diagnosis texts (normalised as triage normalises complaints, so abbreviations such as "GSW"
 * and negations such as "denies being shot" are understood), the triage complaints they match,
 * the coded diagnoses, the laboratory results, and the patient's age. Pure.
 */
import type { CodeableConcept, Condition, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { ageInDays, DAYS_PER_YEAR } from '../triage/age.ts';
import { defaultComplaints, type NormalizedToken } from '../triage/complaints.ts';

export interface TextFact {
  /** Where the text is: "Encounter/1 reasonCode", "Condition/2". */
  source: string;
  text: string;
  tokens: NormalizedToken[];
}

export interface CodeFact {
  source: string;
  system: string;
  code: string;
  display?: string;
}

export interface LabFact extends CodeFact {
  positive: boolean;
  value?: { value: number; unit: string };
}

export interface CaseFacts {
  texts: TextFact[];
  /** Triage complaint ids found in the texts, with where. */
  complaints: { id: string; source: string; matched: string }[];
  conditions: CodeFact[];
  labs: LabFact[];
  ageYears?: number;
}

const POSITIVE_INTERPRETATIONS = new Set(['POS', 'DET', 'A', 'AA']);
// SNOMED CT: 10828004 Positive, 260373001 Detected.
const POSITIVE_VALUES = new Set(['10828004', '260373001']);

function conceptTexts(concept: CodeableConcept | undefined): string[] {
  return [concept?.text, ...(concept?.coding ?? []).map((c) => c.display)].filter((t): t is string => !!t);
}

function isLab(o: Observation): boolean {
  return !!o.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory'));
}

function isPositive(o: Observation): boolean {
  return (
    !!o.interpretation?.some((i) => i.coding?.some((c) => POSITIVE_INTERPRETATIONS.has(c.code ?? ''))) ||
    !!o.valueCodeableConcept?.coding?.some((c) => POSITIVE_VALUES.has(c.code ?? '')) ||
    /^(positive|detected)$/i.test(o.valueString ?? o.valueCodeableConcept?.text ?? '')
  );
}

export interface FactSources {
  patient?: Patient;
  encounter: Encounter;
  conditions: Condition[];
  observations: Observation[];
  /** When the facts are taken (for the age). */
  at: string;
}

export function caseFacts(src: FactSources): CaseFacts {
  const complaints = defaultComplaints();
  const encounterRef = `Encounter/${src.encounter.id}`;
  const raw: { source: string; text: string }[] = [
    ...(src.encounter.reasonCode ?? []).flatMap((c) => conceptTexts(c).map((text) => ({ source: `${encounterRef} reasonCode`, text }))),
    ...(src.encounter.type ?? []).flatMap((c) => conceptTexts(c).map((text) => ({ source: `${encounterRef} type`, text }))),
  ];
  const usableConditions = src.conditions.filter(
    (c) => c.verificationStatus?.coding?.[0]?.code !== 'entered-in-error' && c.verificationStatus?.coding?.[0]?.code !== 'refuted',
  );
  for (const c of usableConditions) {
    for (const text of conceptTexts(c.code)) raw.push({ source: `Condition/${c.id}`, text });
    for (const note of c.note ?? []) if (note.text) raw.push({ source: `Condition/${c.id}`, text: note.text });
  }
  const days = ageInDays(src.patient?.birthDate, src.at);
  const context = { ageYears: days === undefined ? undefined : days / DAYS_PER_YEAR, sex: src.patient?.gender };
  const texts: TextFact[] = [];
  const found: CaseFacts['complaints'] = [];
  for (const { source, text } of raw) {
    texts.push({ source, text, tokens: complaints.normalize(text).tokens });
    for (const m of complaints.match(text, context).matches) found.push({ id: m.entry.id, source, matched: m.matched });
  }
  const conditions: CodeFact[] = usableConditions.flatMap((c) =>
    (c.code?.coding ?? [])
      .filter((x) => x.system && x.code)
      .map((x) => ({ source: `Condition/${c.id}`, system: x.system as string, code: x.code as string, display: x.display })),
  );
  const labs: LabFact[] = src.observations
    .filter((o) => isLab(o) && o.status !== 'entered-in-error' && o.status !== 'cancelled')
    .flatMap((o) =>
      (o.code?.coding ?? [])
        .filter((x) => x.system && x.code)
        .map((x) => ({
          source: `Observation/${o.id}`,
          system: x.system as string,
          code: x.code as string,
          display: x.display ?? o.code?.text,
          positive: isPositive(o),
          ...(o.valueQuantity?.value !== undefined
            ? { value: { value: o.valueQuantity.value, unit: o.valueQuantity.code ?? o.valueQuantity.unit ?? '' } }
            : {}),
        })),
    );
  return { texts, complaints: found, conditions, labs, ageYears: context.ageYears };
}
