import type { MedplumClient } from '@medplum/core';
import type { Communication, Parameters } from '@medplum/fhirtypes';

/** The visit's phases in order, as `Patient/{id}/$family-status` names them. */
export const PHASES = [
  { code: 'arrived', label: 'Arrived' },
  { code: 'being-seen', label: 'Being seen' },
  { code: 'waiting-for-results', label: 'Waiting for results' },
  { code: 'admitted', label: 'Admitted' },
  { code: 'discharged', label: 'Discharged' },
] as const;

export type Phase = (typeof PHASES)[number]['code'];

export interface FamilyStatus {
  patientName?: string;
  phase?: Phase;
  label: string;
  expectedWaitMinutes?: number;
  patientsAhead?: number;
  asOf?: string;
}

/** Reads the Parameters of `$family-status` into the page's shape. */
export function parseStatus(p: Parameters): FamilyStatus {
  const get = (name: string) => p.parameter?.find((x) => x.name === name);
  return {
    patientName: get('patientName')?.valueString,
    phase: get('phase')?.valueCode as Phase | undefined,
    label: get('label')?.valueString ?? '',
    expectedWaitMinutes: get('expectedWaitMinutes')?.valueInteger,
    patientsAhead: get('patientsAhead')?.valueInteger,
    asOf: get('asOf')?.valueInstant,
  };
}

export async function loadFamilyStatus(medplum: MedplumClient, patientRef: string): Promise<FamilyStatus> {
  const id = patientRef.split('/')[1];
  return parseStatus((await medplum.get(medplum.fhirUrl('Patient', id, '$family-status'), { cache: 'no-cache' })) as Parameters);
}

/** The messages the care team released to this family member, newest first. */
export async function loadMessages(medplum: MedplumClient, relatedPerson: string): Promise<Communication[]> {
  const messages = await medplum.searchResources('Communication', { recipient: relatedPerson, _count: '50' }, { cache: 'no-cache' });
  return [...messages].sort((a, b) => (b.sent ?? b.meta?.lastUpdated ?? '').localeCompare(a.sent ?? a.meta?.lastUpdated ?? ''));
}

/** "about 40 minutes", "about 1 h 30 min": the wait as an estimate, never as a promise. */
export function waitText(minutes: number | undefined): string {
  if (minutes === undefined) return 'We cannot estimate the wait yet.';
  if (minutes <= 0) return 'Should be seen very soon.';
  if (minutes < 60) return `About ${minutes} minutes`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `About ${h} h${m ? ` ${m} min` : ''}`;
}
