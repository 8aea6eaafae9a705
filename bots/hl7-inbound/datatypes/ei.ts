import type { Identifier } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';
import { IDENTIFIER_TYPE_SYSTEM } from './cx.ts';
import { systemFromHd } from './hd.ts';

/**
 * EI (entity identifier ^ namespace id ^ universal id ^ universal id type) → Identifier
 * (IG EI[Identifier]); `type` is the v2-0203 code the field implies (PLAC, FILL).
 */
export function eiToIdentifier(rep: Rep, type?: string): Identifier | undefined {
  const value = rep.c(1);
  if (!value) return undefined;
  const system = systemFromHd(rep.c(2), rep.c(3), rep.c(4));
  return {
    ...(system ? { system } : {}),
    value,
    ...(type ? { type: { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: type }] } } : {}),
  };
}
