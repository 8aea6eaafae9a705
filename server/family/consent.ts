import type { WithId } from '@medplum/core';
import type { Consent, RelatedPerson } from '@medplum/fhirtypes';
import { familyConsent } from '../../bots/communication/recipients.ts';
import type { PostgresRepository } from '../fhir/repo.ts';

/**
 * Whom a family member acts for, and whether they may see anything now. One consent rule for the
 * whole project: the communication agent writes to family under the same `familyConsent` rule
 * (docs/workflows.md), so a family member who may read the status page is exactly one who may be
 * sent family updates.
 */
export interface FamilyStanding {
  relatedPerson: WithId<RelatedPerson>;
  /** `Patient/<id>`: RelatedPerson.patient. */
  patient: string;
  /** An active Consent of the patient permits family updates to this RelatedPerson now. */
  consented: boolean;
}

/** Reads a RelatedPerson and the patient's active Consents (as the server: the caller may not read Consent). */
export async function familyStanding(
  system: PostgresRepository,
  relatedPersonId: string,
  now = new Date(),
): Promise<FamilyStanding | undefined> {
  const relatedPerson = await system.readResource<RelatedPerson>('RelatedPerson', relatedPersonId).catch(() => undefined);
  const patient = relatedPerson?.patient?.reference;
  if (!relatedPerson || !patient?.startsWith('Patient/')) {
    return undefined;
  }
  const consents = await system.searchResources<Consent>({
    resourceType: 'Consent',
    filters: [
      { code: 'patient', operator: 'eq', value: patient },
      { code: 'status', operator: 'eq', value: 'active' },
    ],
    count: 100,
  });
  return { relatedPerson, patient, consented: familyConsent(consents, `RelatedPerson/${relatedPerson.id}`, patient, now) };
}
