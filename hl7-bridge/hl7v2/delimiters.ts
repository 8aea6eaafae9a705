/**
 * HL7 v2 encoding characters (MSH-1 and MSH-2). Every message may choose its own; v2.7 adds a
 * fifth, the truncation character (`#` by convention). This module is pure (no Node APIs) because
 * the HL7 bots bundle it too.
 */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+: the truncation character, when MSH-2 has a fifth character. */
  truncation?: string;
}

export const DEFAULT_DELIMITERS: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/** The header segments whose fourth character is the field separator. */
export const HEADER_SEGMENTS = ['MSH', 'FHS', 'BHS'] as const;

export class DelimiterError extends Error {}

/**
 * Reads the delimiters from a header segment (MSH, FHS or BHS). MSH-2 is what follows MSH-1 up to
 * the next field separator: 4 characters, or 5 with a truncation character. Fewer than 4, repeated
 * characters, or alphanumerics are refused: they would make the rest of the message ambiguous.
 */
export function readDelimiters(header: string): Delimiters {
  const name = header.slice(0, 3);
  if (!(HEADER_SEGMENTS as readonly string[]).includes(name) || header.length < 8) {
    throw new DelimiterError(`${name || 'The first segment'} is too short to carry encoding characters`);
  }
  const field = header[3];
  const end = header.indexOf(field, 4);
  const chars = header.slice(4, end < 0 ? undefined : end);
  if (chars.length < 4 || chars.length > 5) {
    throw new DelimiterError(`${name}-2 must have 4 or 5 encoding characters, got "${chars}"`);
  }
  const all = field + chars;
  if (new Set(all).size !== all.length || /[A-Za-z0-9\r\n ]/.test(all)) {
    throw new DelimiterError(`${name}-1/${name}-2 encoding characters must be distinct punctuation, got "${all}"`);
  }
  return {
    field,
    component: chars[0],
    repetition: chars[1],
    escape: chars[2],
    subcomponent: chars[3],
    ...(chars.length === 5 ? { truncation: chars[4] } : {}),
  };
}

/** MSH-2 as written for these delimiters. */
export function encodingCharacters(d: Delimiters): string {
  return d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
}
