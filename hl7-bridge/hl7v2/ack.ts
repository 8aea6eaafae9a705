import { nowDtm } from './datetime.ts';
import { DEFAULT_DELIMITERS } from './delimiters.ts';
import { escapeValue } from './escape.ts';
import type { Hl7Location, Message } from './message.ts';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** One problem to report in an ERR segment. `code` is from HL7 table 0357. */
export interface AckError {
  code: string;
  severity: 'E' | 'W' | 'I';
  text: string;
  location?: Hl7Location;
}

/** HL7 table 0357 (message error condition codes). */
export const ERROR_CODES: Record<string, string> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '104': 'Value too long',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

/** Who we are when the inbound message does not say (its MSH-5/6 are empty, or it had no MSH). */
export interface AckIdentity {
  application: string;
  facility: string;
}

export interface AckOptions {
  code: AckCode;
  /** MSH-10 of the ACK itself: unique per ACK. */
  controlId: string;
  errors?: AckError[];
  identity?: AckIdentity;
  /** MSH-7, default now. */
  timestamp?: string;
}

/** "2.5.1" → 251 style comparable number (2.3.1 → 231, 2.5 → 250). */
export function versionNumber(version: string): number {
  const [a = '0', b = '0', c = '0'] = version.split('.');
  return Number(a) * 100 + Number(b) * 10 + Number(c);
}

/** Enhanced acknowledgment mode: the sender valued MSH-15 (accept acknowledgment type). */
export function isEnhancedMode(inbound: Message | undefined): boolean {
  return !!inbound?.header.value(15);
}

/** The commit-level code for an original-mode code when the sender asked for enhanced mode. */
export function ackCodeFor(code: 'AA' | 'AE' | 'AR', inbound: Message | undefined): AckCode {
  if (!isEnhancedMode(inbound)) return code;
  return code === 'AA' ? 'CA' : code === 'AE' ? 'CE' : 'CR';
}

function errLocation(loc: Hl7Location | undefined): string {
  if (!loc) return '';
  const parts = [
    loc.segment,
    loc.sequence ?? '',
    loc.field ?? '',
    loc.repetition ?? (loc.field ? 1 : ''),
    loc.component ?? '',
    loc.subcomponent ?? '',
  ];
  while (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts.join('^');
}

/**
 * Builds the acknowledgment of `inbound` (undefined when it could not be parsed at all): MSH-3/4
 * and MSH-5/6 swapped from the inbound message (raw, so escapes and components survive), the
 * inbound delimiters, processing id, version and charset, MSA-2 = inbound MSH-10, and one ERR per
 * problem. ERR uses the v2.5+ layout (ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text) and
 * the older ERR-1 layout for earlier versions, since receivers read the layout of their version.
 */
export function buildAck(inbound: Message | undefined, options: AckOptions): string {
  const d = inbound?.delimiters ?? DEFAULT_DELIMITERS;
  const h = inbound?.header;
  const esc = (v: string) => escapeValue(v, d);
  const identity = options.identity ?? { application: 'EMERGISPHERE', facility: 'ED' };
  const version = h?.rep(12).c(1) || '2.5';
  const vnum = versionNumber(version);
  const event = h?.rep(9).c(2) ?? '';
  let type = 'ACK';
  if (event && vnum >= 231) type = `ACK${d.component}${esc(event)}${d.component}ACK`;
  else if (event && vnum >= 230) type = `ACK${d.component}${esc(event)}`;
  const msh = [
    `MSH${d.field}${d.component}${d.repetition}${d.escape}${d.subcomponent}${d.truncation ?? ''}`,
    h?.field(5) || esc(identity.application),
    h?.field(6) || esc(identity.facility),
    h?.field(3) ?? '',
    h?.field(4) ?? '',
    options.timestamp ?? nowDtm(),
    '',
    type,
    esc(options.controlId),
    h?.field(11) || 'P',
    h?.field(12) || '2.5',
  ];
  const charset = h?.rep(18).raw;
  if (charset) {
    while (msh.length < 16) msh.push('');
    msh.push(charset);
  }
  const errors = options.errors ?? [];
  const msa = ['MSA', options.code, h?.field(10) ?? ''];
  if (errors.length && options.code !== 'AA' && options.code !== 'CA') {
    msa.push(esc(errors[0].text.slice(0, 80)));
  }
  const segments = [msh.join(d.field), msa.join(d.field)];
  for (const e of errors) {
    const codeText = ERROR_CODES[e.code] ?? 'Application error';
    if (vnum < 250) {
      const loc = e.location ? [e.location.segment, e.location.sequence ?? '', e.location.field ?? ''].join(d.component) : '';
      const eld = `${loc}${loc ? d.component : `${d.component}${d.component}${d.component}`}${e.code}${d.subcomponent}${esc(e.text)}${d.subcomponent}HL70357`;
      segments.push(['ERR', eld].join(d.field));
    } else {
      const loc = errLocation(e.location).replaceAll('^', d.component);
      segments.push(
        ['ERR', '', loc, `${e.code}${d.component}${esc(codeText)}${d.component}HL70357`, e.severity, '', '', '', esc(e.text)].join(d.field),
      );
    }
  }
  return `${segments.join('\r')}\r`;
}

/** Generates ACK control ids: unique per process and across restarts, at most 20 characters (MSH-10 is ST 20). */
export class ControlIds {
  private counter = 0;
  private readonly prefix: string;

  constructor(prefix = 'ES') {
    this.prefix = prefix;
  }

  next(): string {
    this.counter = (this.counter + 1) % 1_679_616; // 36^4
    const random = Math.floor(Math.random() * 1296)
      .toString(36)
      .padStart(2, '0');
    return `${this.prefix}${Date.now().toString(36)}${random}${this.counter.toString(36).padStart(4, '0')}`.slice(0, 20);
  }
}
