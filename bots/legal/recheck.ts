/**
 * Diagnoses and laboratory results arrive after triage: a Condition or a laboratory Observation
 * added to an open emergency encounter has the encounter assessed again (new findings only).
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Condition, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { assessEncounter } from './assess.ts';

const CLOSED = new Set<Encounter['status']>(['finished', 'cancelled', 'entered-in-error']);

export async function reassess(medplum: MedplumClient, input: Condition | Observation, secrets: BotEvent['secrets']): Promise<unknown> {
  const encounterRef = input.encounter?.reference;
  if (!encounterRef?.startsWith('Encounter/')) {
    return { skipped: `${input.resourceType}/${input.id} has no encounter` };
  }
  const encounter = (await medplum.readReference({ reference: encounterRef })) as WithId<Encounter>;
  if (encounter.class?.code !== 'EMER' || CLOSED.has(encounter.status)) {
    return { skipped: `${encounterRef} is not an open emergency encounter` };
  }
  const patientRef = encounter.subject?.reference;
  if (!patientRef?.startsWith('Patient/')) {
    return { skipped: `${encounterRef} has no patient` };
  }
  const patient = (await medplum.readReference({ reference: patientRef })) as WithId<Patient>;
  const assessment = await assessEncounter(medplum, encounter, patient, secrets);
  const added = assessment.written.filter((w) => w.created);
  console.log(
    `${encounterRef} reassessed after ${input.resourceType}/${input.id}: ${added.length ? added.map((w) => w.finding).join(', ') : 'nothing new'}`,
  );
  return {
    encounter: encounterRef,
    jurisdiction: assessment.jurisdiction.code,
    added: added.map((w) => ({ finding: w.finding, report: w.report })),
  };
}
