import type { HumanName } from '@medplum/fhirtypes';
import { dtmToFhirDate } from '../../../hl7-bridge/hl7v2/datetime.ts';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

/** HL7 table 0200 name type → FHIR name use (v2-to-FHIR IG NameType map). */
const NAME_USE: Record<string, HumanName['use']> = {
  BAD: 'old',
  D: 'usual',
  L: 'official',
  M: 'maiden',
  MSK: 'anonymous',
  N: 'nickname',
  NAV: 'temp',
  R: 'official',
  TEMP: 'temp',
};

/**
 * XPN → HumanName: XPN.1 family (FN.1 surname), XPN.2 and XPN.3 given names, XPN.4 suffix,
 * XPN.5 prefix, XPN.6 degree (a suffix), XPN.7 name type → use, XPN.10 validity → period.
 */
export function xpnToHumanName(rep: Rep): HumanName | undefined {
  const family = rep.c(1);
  const given = [rep.c(2), ...rep.c(3).split(' ')].filter(Boolean);
  const suffix = [rep.c(4), rep.c(6)].filter(Boolean);
  const prefix = rep.c(5);
  if (!family && given.length === 0) return undefined;
  const name: HumanName = {};
  if (family) name.family = family;
  if (given.length) name.given = given;
  if (prefix) name.prefix = [prefix];
  if (suffix.length) name.suffix = suffix;
  const use = NAME_USE[rep.c(7).toUpperCase()];
  if (use) name.use = use;
  const start = dtmToFhirDate(rep.c(10, 1));
  const end = dtmToFhirDate(rep.c(10, 2));
  if (start || end) name.period = { ...(start ? { start } : {}), ...(end ? { end } : {}) };
  return name;
}

/** "Mary Kate O'Brien" for displays. */
export function formatName(name: HumanName | undefined): string | undefined {
  if (!name) return undefined;
  return [...(name.given ?? []), name.family].filter(Boolean).join(' ') || undefined;
}
