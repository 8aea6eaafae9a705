/**
 * EMTALA gate. An emergency patient is asked nothing about insurance or payment until the medical
 * screening examination is done, which here means both:
 * 1. triage has ended — the workflow's triage step Task is `completed`, or the encounter carries an
 *    ESI priority (a clinician's override counts); and
 * 2. a provider has seen the patient — the Encounter has a participant that is a Practitioner (or
 *    PractitionerRole) of type ATND (attender) or PPRF (primary performer), which is how the ED
 *    records the physician or advanced-practice provider who examined the patient.
 * Non-emergency visits are not gated. Pure.
 */
import type { Encounter } from '@medplum/fhirtypes';
import { esiOfPriority } from '../lib/acuity.ts';

const PROVIDER_TYPES = new Set(['ATND', 'PPRF']);

export interface Screening {
  done: boolean;
  reason: string;
}

export function isEmergency(encounter: Encounter): boolean {
  return encounter.class?.code === 'EMER';
}

export function screeningStatus(encounter: Encounter, triageStepCompleted: boolean): Screening {
  if (!isEmergency(encounter)) return { done: true, reason: 'not an emergency visit: no EMTALA gate' };
  const triaged = triageStepCompleted || esiOfPriority(encounter.priority) !== undefined;
  const provider = encounter.participant?.find(
    (p) =>
      /^(Practitioner|PractitionerRole)\//.test(p.individual?.reference ?? '') &&
      p.type?.some((t) => t.coding?.some((c) => PROVIDER_TYPES.has(c.code ?? ''))),
  );
  if (triaged && provider) {
    return {
      done: true,
      reason: `medical screening done: triaged and seen by ${provider.individual?.display ?? provider.individual?.reference}`,
    };
  }
  const missing = [triaged ? undefined : 'triage has not ended', provider ? undefined : 'no provider (ATND/PPRF) has seen the patient'];
  return {
    done: false,
    reason: `medical screening not done (${missing.filter(Boolean).join('; ')}): no insurance or payment contact (EMTALA)`,
  };
}
