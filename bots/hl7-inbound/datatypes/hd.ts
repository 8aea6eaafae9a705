import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

/** Where identifier systems for local HL7 namespaces live (no OID or URI was sent). */
export const LOCAL_SYSTEM_BASE = 'https://emergisphere.dev/fhir/sid/hl7v2/';

/** Well-known assigning authorities (HD namespace ids) and their FHIR identifier systems. */
const KNOWN_SYSTEMS: Record<string, string> = {
  SSA: 'http://hl7.org/fhir/sid/us-ssn',
  NPI: 'http://hl7.org/fhir/sid/us-npi',
  CMS: 'http://hl7.org/fhir/sid/us-medicare',
};

/**
 * An HD (hierarchic designator: namespace id ^ universal id ^ universal id type) → the URI of an
 * identifier system. As the v2-to-FHIR IG's HD[uri] map: an ISO OID becomes `urn:oid:`, a UUID
 * `urn:uuid:`, a URI stays itself; a bare namespace is looked up in the well-known list, else
 * becomes a stable local URI. Components are read at `offset` (HD embedded in CX.4 is a
 * sub-component group, so the caller passes how to read each part).
 */
export function systemFromHd(namespace: string, universalId = '', universalIdType = ''): string | undefined {
  const type = universalIdType.toUpperCase();
  if (universalId) {
    if (type === 'ISO' || /^\d+(\.\d+)+$/.test(universalId)) return `urn:oid:${universalId}`;
    if (type === 'UUID' || type === 'GUID') return `urn:uuid:${universalId.toLowerCase()}`;
    if (type === 'URI' || /^[a-z][a-z0-9+.-]*:/i.test(universalId)) return universalId;
  }
  if (!namespace) return undefined;
  return KNOWN_SYSTEMS[namespace.toUpperCase()] ?? `${LOCAL_SYSTEM_BASE}${encodeURIComponent(namespace)}`;
}

/** The system of an HD that is a whole field or component (HD.1, HD.2, HD.3 as components). */
export function systemFromHdComponents(rep: Rep): string | undefined {
  return systemFromHd(rep.c(1), rep.c(2), rep.c(3));
}

/** The system of an HD that is one component (its parts are sub-components), e.g. CX.4. */
export function systemFromHdSubcomponents(rep: Rep, component: number): string | undefined {
  return systemFromHd(rep.c(component, 1), rep.c(component, 2), rep.c(component, 3));
}
