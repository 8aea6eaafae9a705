import type { Encounter, ServiceRequest } from '@medplum/fhirtypes';

/** Where the patient is in the visit, in the words the family page uses. */
export type FamilyPhase = 'arrived' | 'being-seen' | 'waiting-for-results' | 'admitted' | 'discharged';

export const PHASE_LABELS: Record<FamilyPhase, string> = {
  arrived: 'Arrived — waiting to be seen',
  'being-seen': 'Being seen',
  'waiting-for-results': 'Waiting for results',
  admitted: 'Admitted to the hospital',
  discharged: 'Discharged',
};

/** What the phase is derived from (docs/ed-data.md): the ED encounter, its admission, its orders. */
export interface VisitFacts {
  encounter: Encounter;
  /** An inpatient Encounter (class IMP) with partOf = the ED encounter, not cancelled. */
  admission?: Encounter;
  /** The ServiceRequests of the ED encounter (lab, imaging, consults). */
  orders: ServiceRequest[];
}

const PROVIDER_TYPES = new Set(['ATND', 'PPRF']);

/** When the first provider (attending or primary performer) took the patient: door-to-provider. */
export function providerStart(encounter: Encounter): string | undefined {
  const starts = (encounter.participant ?? [])
    .filter((p) => p.type?.some((t) => t.coding?.some((c) => PROVIDER_TYPES.has(c.code ?? ''))))
    .map((p) => p.period?.start)
    .filter((s): s is string => !!s)
    .sort();
  return starts[0];
}

/** Orders still waiting for their results: active (not yet completed, revoked or entered in error). */
function pendingOrders(orders: ServiceRequest[]): ServiceRequest[] {
  return orders.filter((o) => o.status === 'active' || o.status === 'on-hold');
}

/**
 * The phase of a visit. Admission wins over everything (the ED encounter is finished when the
 * patient goes up to a ward); a finished or cancelled ED encounter is a discharge; a patient with a
 * provider is being seen, or waiting for results while an order of the visit is still open; before
 * a provider takes them (arrived, triaged) they have arrived.
 */
export function familyPhase(facts: VisitFacts): FamilyPhase {
  const { encounter } = facts;
  if (facts.admission && facts.admission.status !== 'cancelled' && facts.admission.status !== 'entered-in-error') {
    return 'admitted';
  }
  if (encounter.status === 'finished' || encounter.status === 'cancelled' || encounter.status === 'entered-in-error') {
    return 'discharged';
  }
  const seen = !!providerStart(encounter) || encounter.status === 'in-progress';
  if (!seen) {
    return 'arrived';
  }
  return pendingOrders(facts.orders).length > 0 ? 'waiting-for-results' : 'being-seen';
}
