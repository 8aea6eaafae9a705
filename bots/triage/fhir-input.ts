/**
 * A TriageInput from the FHIR context the handler fetched: age and sex from the Patient, the chief
 * complaint from Encounter.reasonCode, vitals, consciousness and pain from recent Observations
 * (through the smart-device extraction, so units are checked the same way), pregnancy from active
 * Conditions. Whatever is absent stays absent; the rules treat it as unknown.
 */
import type { Condition, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { extractSamples, LOINC, latestVitalSet } from '../smart-device/vitals.ts';
import { ageInDays } from './age.ts';
import type { TriageInput, Vitals } from './types.ts';

/** Pain severity 0–10 verbal numeric rating, reported. */
export const PAIN_SCORE_LOINC = '72514-3';
const SNOMED = 'http://snomed.info/sct';
const PREGNANCY_SNOMED = '77386006';
/** Core R4 extension, valued from HL7 v2 table 0430 (docs/ed-data.md). */
export const MODE_OF_ARRIVAL_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival';
const ARRIVAL_MODES: Record<string, string> = {
  A: 'ambulance',
  C: 'car',
  F: 'on foot',
  H: 'helicopter',
  P: 'public transport',
  O: 'other',
};

export interface TriageContext {
  patient?: Patient;
  encounter?: Encounter;
  /** Recent Observations for the patient/encounter (vitals, AVPU, pain, O2). */
  observations?: Observation[];
  conditions?: Condition[];
  /** Reference time for age and for the vitals window; default the encounter start. */
  at?: string;
  /** Vitals older than this before `at` are not used; default 60 min. */
  windowMinutes?: number;
  /** Overrides the Encounter's mode-of-arrival extension. */
  arrivalMode?: string;
  injury?: boolean | string;
}

function complaintText(encounter: Encounter | undefined): string | undefined {
  const parts = (encounter?.reasonCode ?? [])
    .map((c) => c.text ?? c.coding?.find((x) => x.display)?.display)
    .filter((t): t is string => !!t);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

export function triageInputFromFhir(ctx: TriageContext): TriageInput {
  const at = ctx.at ?? ctx.encounter?.period?.start;
  const input: TriageInput = {};
  const days = ageInDays(ctx.patient?.birthDate, at);
  if (days !== undefined) input.ageDays = days;
  const gender = ctx.patient?.gender;
  if (gender) input.sex = gender;
  const complaint = complaintText(ctx.encounter);
  if (complaint) input.chiefComplaint = complaint;
  const arrival = ctx.encounter?.extension?.find((e) => e.url === MODE_OF_ARRIVAL_EXTENSION)?.valueCoding;
  const arrivalMode = ctx.arrivalMode ?? (arrival ? (ARRIVAL_MODES[arrival.code ?? ''] ?? arrival.display ?? arrival.code) : undefined);
  if (arrivalMode) input.arrivalMode = arrivalMode;
  if (ctx.injury !== undefined) input.injury = ctx.injury;

  const observations = ctx.observations ?? [];
  const { set } = latestVitalSet(extractSamples(observations).samples, { at, windowMinutes: ctx.windowMinutes });
  const vitals: Vitals = {};
  for (const key of ['hr', 'rr', 'spo2', 'sbp', 'dbp', 'temp'] as const) {
    const reading = set[key];
    if (reading) vitals[key] = reading.value;
  }
  if (set.onOxygen) vitals.onOxygen = set.onOxygen.value;
  input.vitals = vitals;
  if (set.consciousness) input.mentalStatus = set.consciousness.avpu;

  const pain = observations
    .filter((o) => o.status !== 'entered-in-error' && o.code?.coding?.some((c) => c.system === LOINC && c.code === PAIN_SCORE_LOINC))
    .map((o) => ({ value: o.valueInteger ?? o.valueQuantity?.value, time: o.effectiveDateTime ?? '' }))
    .filter((p): p is { value: number; time: string } => typeof p.value === 'number' && p.value >= 0 && p.value <= 10)
    .sort((a, b) => a.time.localeCompare(b.time));
  if (pain.length > 0) input.painScore = pain[pain.length - 1].value;

  const pregnant = (ctx.conditions ?? []).some(
    (c) =>
      c.code?.coding?.some((x) => x.system === SNOMED && x.code === PREGNANCY_SNOMED) &&
      !c.clinicalStatus?.coding?.some((x) => x.code === 'resolved' || x.code === 'inactive') &&
      c.verificationStatus?.coding?.every((x) => x.code !== 'entered-in-error' && x.code !== 'refuted') !== false,
  );
  if (pregnant) input.pregnant = true;
  return input;
}
