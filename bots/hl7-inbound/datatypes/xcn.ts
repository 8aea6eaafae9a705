import type { Identifier, Practitioner } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';
import { IDENTIFIER_TYPE_SYSTEM } from './cx.ts';
import { systemFromHdSubcomponents } from './hd.ts';

/**
 * XCN → Practitioner (IG XCN[Practitioner]): XCN.1 id with XCN.9 assigning authority and XCN.13
 * type → identifier; XCN.2–XCN.7 → name (family, given, middle, suffix, prefix, degree).
 * The identifier is the key for finding the same Practitioner again; without an id there is only
 * a display name.
 */
export function xcnToPractitioner(rep: Rep): { practitioner: Practitioner; identifier?: Identifier; display?: string } | undefined {
  const id = rep.c(1);
  const family = rep.c(2);
  const given = [rep.c(3), rep.c(4)].filter(Boolean);
  if (!id && !family) return undefined;
  const practitioner: Practitioner = { resourceType: 'Practitioner' };
  let identifier: Identifier | undefined;
  if (id) {
    identifier = { value: id };
    const system = systemFromHdSubcomponents(rep, 9);
    if (system) identifier.system = system;
    const type = rep.c(13);
    if (type) identifier.type = { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: type }] };
    practitioner.identifier = [identifier];
  }
  if (family || given.length) {
    practitioner.name = [
      {
        ...(family ? { family } : {}),
        ...(given.length ? { given } : {}),
        ...(rep.c(6) ? { prefix: [rep.c(6)] } : {}),
        ...(rep.c(5) || rep.c(7) ? { suffix: [rep.c(5), rep.c(7)].filter(Boolean) } : {}),
      },
    ];
  }
  const display = [rep.c(6), ...given, family].filter(Boolean).join(' ') || undefined;
  return { practitioner, identifier, display };
}
