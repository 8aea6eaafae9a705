import type { ContactPoint } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

/** HL7 table 0201 telecommunication use → ContactPoint.use. */
const USE: Record<string, ContactPoint['use']> = {
  PRN: 'home',
  ORN: 'home',
  VHN: 'home',
  WPN: 'work',
  PRS: 'mobile',
  EMR: 'home',
  NET: undefined,
};
/** HL7 table 0202 equipment type → ContactPoint.system. */
const SYSTEM: Record<string, ContactPoint['system']> = {
  PH: 'phone',
  CP: 'phone',
  FX: 'fax',
  BP: 'pager',
  Internet: 'email',
  X400: 'email',
  MD: 'other',
  TDD: 'other',
  TTY: 'other',
};

/**
 * XTN → ContactPoint: the number from XTN.5–XTN.8 (country, area, local, extension) or the
 * unformatted XTN.1; an email from XTN.4 (use NET, type Internet). `defaultUse` applies when
 * XTN.2 is empty (PID-13 home, PID-14 work, as the IG says).
 */
export function xtnToContactPoint(rep: Rep, defaultUse?: ContactPoint['use']): ContactPoint | undefined {
  const useCode = rep.c(2).toUpperCase();
  const type = rep.c(3);
  const email = rep.c(4);
  if (email || useCode === 'NET' || type.toUpperCase() === 'INTERNET') {
    const value = email || rep.c(1);
    return value ? { system: 'email', value, ...(defaultUse && !useCode ? { use: defaultUse } : {}) } : undefined;
  }
  const parts = [rep.c(5) ? `+${rep.c(5)}` : '', rep.c(6) ? `(${rep.c(6)})` : '', rep.c(7)].filter(Boolean);
  let value = parts.length && rep.c(7) ? parts.join(' ') : rep.c(1) || rep.c(12);
  if (!value) return undefined;
  if (rep.c(8)) value += ` x${rep.c(8)}`;
  const cp: ContactPoint = { system: SYSTEM[type] ?? 'phone', value };
  const use = useCode ? USE[useCode] : defaultUse;
  if (use) cp.use = use;
  if (type === 'CP') cp.use = 'mobile';
  return cp;
}
