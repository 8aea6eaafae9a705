import type { Address } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

/** HL7 table 0190 address type → FHIR use / type. */
const ADDRESS_USE: Record<string, Address['use']> = { H: 'home', B: 'work', O: 'work', C: 'temp', BA: 'old', BI: 'billing' };

/** XAD → Address: .1 street (SAD.1), .2 other designation, .3 city, .4 state, .5 zip, .6 country, .7 type, .9 county. */
export function xadToAddress(rep: Rep): Address | undefined {
  const line = [rep.c(1, 1), rep.c(2)].filter(Boolean);
  const address: Address = {};
  if (line.length) address.line = line;
  if (rep.c(3)) address.city = rep.c(3);
  if (rep.c(4)) address.state = rep.c(4);
  if (rep.c(5)) address.postalCode = rep.c(5);
  if (rep.c(6)) address.country = rep.c(6);
  if (rep.c(9)) address.district = rep.c(9);
  const type = rep.c(7).toUpperCase();
  if (type === 'M') address.type = 'postal';
  else if (ADDRESS_USE[type]) address.use = ADDRESS_USE[type];
  return Object.keys(address).length ? address : undefined;
}
