import type { Identifier } from '@medplum/fhirtypes';
import { dtmToFhirDate } from '../../../hl7-bridge/hl7v2/datetime.ts';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';
import { systemFromHdSubcomponents } from './hd.ts';

export const IDENTIFIER_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';

/**
 * CX → Identifier, as the v2-to-FHIR IG's CX[Identifier] map: CX.1 value, CX.4 assigning
 * authority → system (and assigner display), CX.5 identifier type → type (v2-0203), CX.7/CX.8
 * effective and expiration dates → period. Undefined when CX.1 is empty.
 */
export function cxToIdentifier(rep: Rep, defaultType?: string): Identifier | undefined {
  const value = rep.c(1);
  if (!value) return undefined;
  const system = systemFromHdSubcomponents(rep, 4);
  const typeCode = rep.c(5) || defaultType;
  const identifier: Identifier = { value };
  if (system) identifier.system = system;
  if (typeCode) identifier.type = { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: typeCode }] };
  const namespace = rep.c(4, 1);
  if (namespace) identifier.assigner = { display: namespace };
  const start = dtmToFhirDate(rep.c(7));
  const end = dtmToFhirDate(rep.c(8));
  if (start || end) identifier.period = { ...(start ? { start } : {}), ...(end ? { end } : {}) };
  return identifier;
}

/** Every non-empty repetition of a CX field. */
export function cxListToIdentifiers(reps: Rep[], defaultType?: string): Identifier[] {
  return reps.flatMap((r) => {
    const id = cxToIdentifier(r, defaultType);
    return id ? [id] : [];
  });
}

/** "system|value", as token searches and conditional writes name an identifier. */
export function identifierToken(identifier: Identifier): string {
  return `${identifier.system ?? ''}|${identifier.value ?? ''}`;
}
