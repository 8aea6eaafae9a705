/** Acuity (ESI level) as FHIR carries it on Encounter.priority and ESI Observations. Pure. */
import type { CodeableConcept, Encounter, Observation } from '@medplum/fhirtypes';
import { ESI_SYSTEM, OBSERVATION_CODE_SYSTEM, OBSERVATION_METHOD_SYSTEM } from './workflow.ts';

const ACT_PRIORITY = 'http://terminology.hl7.org/CodeSystem/v3-ActPriority';

export const ESI_OBSERVATION_CODE: CodeableConcept = {
  coding: [{ system: OBSERVATION_CODE_SYSTEM, code: 'esi', display: 'Emergency Severity Index triage level' }],
  text: 'ESI',
};

export function esiConcept(level: number): CodeableConcept {
  return { coding: [{ system: ESI_SYSTEM, code: String(level), display: `ESI ${level}` }], text: `ESI ${level}` };
}

/** Encounter.priority for an ESI level: the ESI code first, then the nearest v3 ActPriority. */
export function priorityForEsi(level: number): CodeableConcept {
  const v3 =
    level <= 2 ? { code: 'EM', display: 'emergency' } : level === 3 ? { code: 'UR', display: 'urgent' } : { code: 'R', display: 'routine' };
  const esi = esiConcept(level);
  return { coding: [...(esi.coding ?? []), { system: ACT_PRIORITY, ...v3 }], text: esi.text };
}

/** The ESI level an Encounter's priority carries, if any. */
export function esiOfPriority(priority: Encounter['priority']): number | undefined {
  const code = priority?.coding?.find((c) => c.system === ESI_SYSTEM)?.code;
  return code ? Number(code) : undefined;
}

export function isEsiObservation(obs: Observation): boolean {
  return !!obs.code?.coding?.some((c) => c.system === OBSERVATION_CODE_SYSTEM && c.code === 'esi');
}

export function methodOf(obs: Observation): string | undefined {
  return obs.method?.coding?.find((c) => c.system === OBSERVATION_METHOD_SYSTEM)?.code;
}

/** The newest clinician override among an encounter's ESI Observations: it wins over every bot. */
export function clinicianOverride(observations: Observation[]): Observation | undefined {
  return observations
    .filter((o) => isEsiObservation(o) && methodOf(o) === 'clinician-override' && o.status !== 'entered-in-error')
    .sort((a, b) => (b.effectiveDateTime ?? '').localeCompare(a.effectiveDateTime ?? ''))[0];
}

export function esiOfObservation(obs: Observation): number | undefined {
  const code = obs.valueCodeableConcept?.coding?.find((c) => c.system === ESI_SYSTEM)?.code;
  return code ? Number(code) : undefined;
}
