import type { Consent } from '@medplum/fhirtypes';

export const FAMILY_CONSENT_PROFILE = 'https://emergisphere.dev/fhir/StructureDefinition/family-consent';

/**
 * The patient's consent to family updates for one family member (docs/ed-data.md, "Family status
 * page"): without it a family member's login sees nothing.
 */
export function familyConsent(patient: string, relatedPerson: string): Consent {
  return {
    resourceType: 'Consent',
    meta: { profile: [FAMILY_CONSENT_PROFILE] },
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: patient },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentpolicycodes', code: 'hipaa-auth' }] },
    provision: {
      type: 'permit',
      actor: [
        {
          role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'FAMMEMB' }] },
          reference: { reference: relatedPerson },
        },
      ],
      purpose: [{ system: 'https://emergisphere.dev/fhir/CodeSystem/consent-purpose', code: 'family-updates' }],
    },
  };
}
