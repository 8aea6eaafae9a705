import { type CharsetName, normalizeCharset } from './charset.ts';
import { DEFAULT_DELIMITERS, DelimiterError, type Delimiters, HEADER_SEGMENTS, readDelimiters } from './delimiters.ts';
import { unescapeValue } from './escape.ts';

/**
 * A lossless HL7 v2 (ER7) parser. Segments keep their raw fields and their original terminators,
 * so `toString()` rebuilds the exact input: leading zeros, timezone signs, `&` inside
 * sub-components, Z-segments and v2.7's fifth encoding character all survive. Values are decoded
 * (escape sequences, hex bytes in the MSH-18 charset) only when read.
 *
 * Numbering follows HL7 notation: fields, repetitions, components and sub-components all count
 * from 1, and MSH-1 is the field separator itself (so MSH-9 is the message type).
 */

/** Where in a message something is, as an ERR segment reports it. */
export interface Hl7Location {
  segment: string;
  /** Occurrence of the segment in the message, from 1. */
  sequence?: number;
  field?: number;
  repetition?: number;
  component?: number;
  subcomponent?: number;
}

/** A parse failure with the HL7 table 0357 code that an ERR segment reports. */
export class Hl7ParseError extends Error {
  readonly code: string;
  readonly location?: Hl7Location;
  constructor(message: string, code: string, location?: Hl7Location) {
    super(message);
    this.code = code;
    this.location = location;
  }
}

interface Context {
  delimiters: Delimiters;
  charset?: CharsetName;
}

/** One repetition of a field: its components and sub-components, decoded on demand. */
export class Rep {
  readonly raw: string;
  private readonly ctx: Context;
  private parts?: string[];

  constructor(raw: string, ctx: Context) {
    this.raw = raw;
    this.ctx = ctx;
  }

  /** True when nothing is sent (the field/repetition is empty). */
  get empty(): boolean {
    return this.raw === '';
  }

  /** The HL7 explicit null `""`: the receiver must delete what it has. */
  get isNull(): boolean {
    return this.raw === '""';
  }

  /** Raw components (not decoded). */
  components(): string[] {
    this.parts ??= this.raw.split(this.ctx.delimiters.component);
    return this.parts;
  }

  /** Decoded sub-component `s` of component `i` (both from 1); '' when absent or null. */
  c(i: number, s = 1): string {
    const comp = this.components()[i - 1];
    if (comp === undefined || comp === '""') return '';
    const sub = s === 1 && !comp.includes(this.ctx.delimiters.subcomponent) ? comp : comp.split(this.ctx.delimiters.subcomponent)[s - 1];
    if (sub === undefined || sub === '""') return '';
    return unescapeValue(sub, this.ctx.delimiters, this.ctx.charset);
  }

  /** The whole repetition decoded as text (for string values that carry stray delimiters). */
  text(): string {
    return this.isNull ? '' : unescapeValue(this.raw, this.ctx.delimiters, this.ctx.charset);
  }
}

export class Segment {
  readonly name: string;
  private readonly fields: string[];
  private readonly ctx: Context;
  /** Fields split into repetitions, on first read (converters read the same fields many times). */
  private readonly split: (Rep[] | undefined)[] = [];

  constructor(raw: string, ctx: Context) {
    this.ctx = ctx;
    const parts = raw.split(ctx.delimiters.field);
    this.name = parts[0];
    // Header segments: field 1 is the separator itself, field 2 the encoding characters.
    this.fields = (HEADER_SEGMENTS as readonly string[]).includes(this.name) ? [parts[0], ctx.delimiters.field, ...parts.slice(1)] : parts;
  }

  get delimiters(): Delimiters {
    return this.ctx.delimiters;
  }

  /** The highest field number present. */
  get length(): number {
    return this.fields.length - 1;
  }

  /** Raw text of field n ('' when absent). */
  field(n: number): string {
    return this.fields[n] ?? '';
  }

  /** Replaces the raw text of field n (padding with empty fields). */
  setField(n: number, raw: string): void {
    if (this.isHeader && n <= 2) {
      throw new Error(`${this.name}-1 and ${this.name}-2 follow the delimiters`);
    }
    while (this.fields.length <= n) this.fields.push('');
    this.fields[n] = raw;
    this.split[n] = undefined;
  }

  private get isHeader(): boolean {
    return (HEADER_SEGMENTS as readonly string[]).includes(this.name);
  }

  /** The repetitions of field n (none when the field is empty). */
  reps(n: number): Rep[] {
    const cached = this.split[n];
    if (cached) return cached;
    const raw = this.field(n);
    let reps: Rep[];
    if (raw === '') reps = [];
    else if (this.isHeader && n <= 2) {
      // MSH-1 and MSH-2 are the delimiters themselves: one literal value, never split or unescaped.
      const literal = { ...this.ctx.delimiters, component: '\u0000', subcomponent: '\u0000', escape: '\u0000' };
      reps = [new Rep(raw, { ...this.ctx, delimiters: literal })];
    } else reps = raw.split(this.ctx.delimiters.repetition).map((r) => new Rep(r, this.ctx));
    this.split[n] = reps;
    return reps;
  }

  /** Repetition i (from 1) of field n; an empty Rep when absent. */
  rep(n: number, i = 1): Rep {
    return this.reps(n)[i - 1] ?? new Rep('', this.ctx);
  }

  /** Decoded value of field n, component c, sub-component s, first repetition. */
  value(n: number, c = 1, s = 1): string {
    if (this.isHeader && n <= 2) return this.field(n);
    return this.rep(n).c(c, s);
  }

  toString(): string {
    if (this.isHeader) {
      return [this.fields[0], ...this.fields.slice(2)].join(this.ctx.delimiters.field);
    }
    return this.fields.join(this.ctx.delimiters.field);
  }
}

/** A segment name: three characters, upper-case letters and digits, starting with a letter (Z-segments included). */
const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

const PATH = /^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?-(\d+)(?:\[(\d+)\])?(?:\.(\d+))?(?:\.(\d+))?$/;

export class Message {
  readonly delimiters: Delimiters;
  /** MSH-18 (first repetition), normalized; undefined when not valued or not supported. */
  readonly charset?: CharsetName;
  readonly segments: Segment[];
  /** Each line of the original text (segment or blank) and the terminator that followed it. */
  private readonly lines: { segment?: Segment; blank?: string; terminator: string }[];

  private constructor(delimiters: Delimiters, charset: CharsetName | undefined, lines: Message['lines']) {
    this.delimiters = delimiters;
    this.charset = charset;
    this.lines = lines;
    this.segments = lines.flatMap((l) => (l.segment ? [l.segment] : []));
  }

  /**
   * Parses one message. Segment terminators may be CR (the standard), LF or CRLF; blank lines are
   * kept for the round trip but are not segments. Throws Hl7ParseError with a table-0357 code.
   */
  static parse(text: string): Message {
    if (!text.startsWith('MSH')) {
      throw new Hl7ParseError('The message does not start with an MSH segment', '100', { segment: 'MSH', sequence: 1 });
    }
    let delimiters: Delimiters;
    try {
      delimiters = readDelimiters(text.slice(0, text.search(/[\r\n]|$/)));
    } catch (err) {
      throw new Hl7ParseError(err instanceof DelimiterError ? err.message : String(err), '102', { segment: 'MSH', sequence: 1, field: 2 });
    }
    const ctx: Context = { delimiters };
    const lines: Message['lines'] = [];
    const re = /\r\n|\r|\n/g;
    let start = 0;
    for (;;) {
      const m = re.exec(text);
      const line = text.slice(start, m ? m.index : text.length);
      const terminator = m ? m[0] : '';
      if (line.trim() === '') {
        if (line !== '' || terminator !== '') lines.push({ blank: line, terminator });
      } else {
        const name = line.slice(0, 3);
        if (!SEGMENT_NAME.test(name) || (line.length > 3 && line[3] !== delimiters.field)) {
          const sequence = lines.filter((l) => l.segment).length + 1;
          throw new Hl7ParseError(`Segment ${sequence} ("${line.slice(0, 12)}…") is not a valid segment`, '100', {
            segment: name,
            sequence,
          });
        }
        lines.push({ segment: new Segment(line, ctx), terminator });
      }
      if (!m) break;
      start = m.index + m[0].length;
    }
    const msh = lines[0]?.segment as Segment;
    const declared = msh.rep(18).c(1);
    ctx.charset = normalizeCharset(declared);
    return new Message(delimiters, ctx.charset, lines);
  }

  /** A new, empty message with these delimiters (for ACKs and outbound messages). */
  static create(delimiters: Delimiters = DEFAULT_DELIMITERS, charset?: CharsetName): Message {
    return new Message(delimiters, charset, []);
  }

  /** Appends a segment given as raw fields (field 1 onwards; header segments start at field 3). */
  addSegment(name: string, rawFields: string[]): Segment {
    const d = this.delimiters;
    const header = (HEADER_SEGMENTS as readonly string[]).includes(name);
    const prefix = header ? `${name}${d.field}${d.component}${d.repetition}${d.escape}${d.subcomponent}${d.truncation ?? ''}` : name;
    const text = rawFields.length ? `${prefix}${d.field}${rawFields.join(d.field)}` : prefix;
    const segment = new Segment(text, { delimiters: d, charset: this.charset });
    this.lines.push({ segment, terminator: '\r' });
    this.segments.push(segment);
    return segment;
  }

  get header(): Segment {
    return this.segments[0];
  }

  /** The first segment with this name (or its nth occurrence, from 1). */
  segment(name: string, occurrence = 1): Segment | undefined {
    let seen = 0;
    for (const s of this.segments) {
      if (s.name === name && ++seen === occurrence) return s;
    }
    return undefined;
  }

  all(name: string): Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /** A decoded value by HL7 path, e.g. `PID-5.1`, `PID-3[2].4`, `OBX[3]-5`, `PID-3[2].4.2`. */
  get(path: string): string {
    const m = PATH.exec(path);
    if (!m) throw new Error(`Not an HL7 path: ${path}`);
    const seg = this.segment(m[1], m[2] ? Number(m[2]) : 1);
    if (!seg) return '';
    const field = Number(m[3]);
    if ((HEADER_SEGMENTS as readonly string[]).includes(seg.name) && field <= 2) return seg.field(field);
    return seg.rep(field, m[4] ? Number(m[4]) : 1).c(m[5] ? Number(m[5]) : 1, m[6] ? Number(m[6]) : 1);
  }

  /** MSH-9: message code, trigger event, structure (e.g. ADT, A01, ADT_A01). */
  get type(): { code: string; event: string; structure: string } {
    const r = this.header.rep(9);
    return { code: r.c(1), event: r.c(2), structure: r.c(3) };
  }

  /** "ADT^A01" (code^event), as logs and configuration name message types. */
  get typeName(): string {
    const t = this.type;
    return t.event ? `${t.code}^${t.event}` : t.code;
  }

  get controlId(): string {
    return this.header.value(10);
  }

  get version(): string {
    return this.header.value(12);
  }

  toString(): string {
    let out = '';
    for (const l of this.lines) {
      out += (l.segment ? l.segment.toString() : l.blank) + l.terminator;
    }
    return out;
  }
}
