/**
 * What the hospital knows about a patient, read with `Patient/{id}/$everything` (all pages) and
 * sorted by kind. The bot's AccessPolicy decides what it may see; whatever it may not see is
 * simply absent from the record.
 */
import type { MedplumClient } from '@medplum/core';
import type {
  AllergyIntolerance,
  Bundle,
  CodeableConcept,
  Condition,
  Consent,
  DiagnosticReport,
  Encounter,
  Immunization,
  Medication,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Patient,
  Procedure,
  Reference,
  Resource,
} from '@medplum/fhirtypes';

export interface PatientRecord {
  patient?: Patient;
  conditions: Condition[];
  allergies: AllergyIntolerance[];
  medicationRequests: MedicationRequest[];
  medicationStatements: MedicationStatement[];
  /** Medications referenced by requests and statements (by "Medication/id"). */
  medications: Map<string, Medication>;
  observations: Observation[];
  diagnosticReports: DiagnosticReport[];
  procedures: Procedure[];
  immunizations: Immunization[];
  encounters: Encounter[];
  consents: Consent[];
  /** Resources read in all, and whether the read stopped at the page limit. */
  read: number;
  truncated: boolean;
}

export function emptyRecord(): PatientRecord {
  return {
    conditions: [],
    allergies: [],
    medicationRequests: [],
    medicationStatements: [],
    medications: new Map(),
    observations: [],
    diagnosticReports: [],
    procedures: [],
    immunizations: [],
    encounters: [],
    consents: [],
    read: 0,
    truncated: false,
  };
}

/** Adds resources to a record by type; other types are ignored. Pure apart from mutating `record`. */
export function addToRecord(record: PatientRecord, resources: Resource[]): PatientRecord {
  for (const r of resources) {
    record.read++;
    switch (r.resourceType) {
      case 'Patient':
        record.patient ??= r;
        break;
      case 'Condition':
        record.conditions.push(r);
        break;
      case 'AllergyIntolerance':
        record.allergies.push(r);
        break;
      case 'MedicationRequest':
        record.medicationRequests.push(r);
        break;
      case 'MedicationStatement':
        record.medicationStatements.push(r);
        break;
      case 'Medication':
        record.medications.set(`Medication/${r.id}`, r);
        break;
      case 'Observation':
        record.observations.push(r);
        break;
      case 'DiagnosticReport':
        record.diagnosticReports.push(r);
        break;
      case 'Procedure':
        record.procedures.push(r);
        break;
      case 'Immunization':
        record.immunizations.push(r);
        break;
      case 'Encounter':
        record.encounters.push(r);
        break;
      case 'Consent':
        record.consents.push(r);
        break;
      default:
        break;
    }
  }
  return record;
}

/** Pages of `$everything` read at most (1000 resources each). */
const MAX_PAGES = 10;

/** Reads the patient's record through `$everything`, following the next links. */
export async function loadRecord(medplum: MedplumClient, patientId: string): Promise<PatientRecord> {
  const record = emptyRecord();
  let url: string | undefined = medplum.fhirUrl('Patient', patientId, '$everything').toString();
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const bundle = (await medplum.get(url, { cache: 'no-cache' })) as Bundle;
    addToRecord(
      record,
      (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r),
    );
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  record.truncated = !!url;
  return record;
}

/** The medication a request or statement is about: its own concept, or the referenced Medication's code. */
export function medicationConcept(
  item: Pick<MedicationRequest, 'medicationCodeableConcept' | 'medicationReference'>,
  medications: Map<string, Medication>,
): CodeableConcept | undefined {
  if (item.medicationCodeableConcept) {
    return item.medicationCodeableConcept;
  }
  const ref = (item.medicationReference as Reference | undefined)?.reference;
  const medication = ref ? medications.get(ref) : undefined;
  if (!medication) {
    return item.medicationReference?.display ? { text: item.medicationReference.display } : undefined;
  }
  // A Medication with ingredients but no overall code is recognised by its ingredients.
  const ingredients = (medication.ingredient ?? []).flatMap((i) => (i.itemCodeableConcept ? [i.itemCodeableConcept] : []));
  return {
    coding: [...(medication.code?.coding ?? []), ...ingredients.flatMap((c) => c.coding ?? [])],
    text: [medication.code?.text, ...ingredients.map((c) => c.text)].filter(Boolean).join(' + ') || undefined,
  };
}

/** A concept for people: its text, else its first display, else its first code. */
export function conceptText(concept: CodeableConcept | undefined, fallback = 'unnamed'): string {
  const coding = concept?.coding?.find((c) => c.display) ?? concept?.coding?.[0];
  return concept?.text ?? coding?.display ?? coding?.code ?? fallback;
}

const OPEN_ENCOUNTER = new Set(['planned', 'arrived', 'triaged', 'in-progress', 'onleave']);

/** The patient's open emergency encounter (newest), for workflows that start from a device. */
export function currentEdEncounter(encounters: Encounter[]): Encounter | undefined {
  return encounters
    .filter((e) => e.class?.code === 'EMER' && OPEN_ENCOUNTER.has(e.status))
    .sort((a, b) => (b.period?.start ?? b.meta?.lastUpdated ?? '').localeCompare(a.period?.start ?? a.meta?.lastUpdated ?? ''))[0];
}
