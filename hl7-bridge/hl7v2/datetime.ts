/**
 * HL7 v2 DTM/DT values ↔ FHIR date and dateTime. A DTM without an offset is wall-clock time at
 * the sender; FHIR requires an offset whenever a time is given, so the caller names the sender's
 * timezone (IANA name or ±hhmm), which is applied as of that instant (daylight saving included).
 */

const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

export interface DtmParts {
  year: number;
  month?: number;
  day?: number;
  hour?: number;
  minute?: number;
  second?: number;
  /** Fraction digits as written (e.g. "5" or "1234"). */
  fraction?: string;
  /** "+hhmm" / "-hhmm" as written. */
  offset?: string;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses a DTM (or DT/TS's first component); undefined when it is not a valid date/time. */
export function parseDtm(value: string): DtmParts | undefined {
  const m = DTM.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const parts: DtmParts = { year: Number(y) };
  if (mo !== undefined) parts.month = Number(mo);
  if (d !== undefined) parts.day = Number(d);
  if (h !== undefined) parts.hour = Number(h);
  if (mi !== undefined) parts.minute = Number(mi);
  if (s !== undefined) parts.second = Number(s);
  if (frac !== undefined) parts.fraction = frac;
  if (off !== undefined) parts.offset = off;
  if (parts.month !== undefined && (parts.month < 1 || parts.month > 12)) return undefined;
  if (parts.day !== undefined && (parts.day < 1 || parts.day > daysInMonth(parts.year, parts.month as number))) return undefined;
  if (parts.hour !== undefined && parts.hour > 23) return undefined;
  if (parts.minute !== undefined && parts.minute > 59) return undefined;
  if (parts.second !== undefined && parts.second > 59) return undefined;
  if (off !== undefined) {
    const oh = Number(off.slice(1, 3));
    const om = Number(off.slice(3, 5));
    if (oh > 14 || om > 59) return undefined;
  }
  return parts;
}

export function isValidDtm(value: string): boolean {
  return parseDtm(value) !== undefined;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Formatters by zone. Building an Intl.DateTimeFormat costs far more than using one (it loads the
 * zone's rules), and a conversion batch asks for the same one or two zones thousands of times.
 * Bounded, since the zone comes from configuration (a handful of values), never from messages.
 */
const zoneFormats = new Map<string, Intl.DateTimeFormat>();
const MAX_ZONE_FORMATS = 16;

function zoneFormat(zone: string): Intl.DateTimeFormat {
  let format = zoneFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (zoneFormats.size >= MAX_ZONE_FORMATS) zoneFormats.clear();
    zoneFormats.set(zone, format);
  }
  return format;
}

/** Minutes east of UTC for a zone at a wall-clock time ('+0200' → 120, 'Europe/Paris' → 60 or 120). */
function zoneOffsetMinutes(zone: string, parts: DtmParts): number {
  const fixed = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (fixed) {
    return (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3]));
  }
  if (zone === 'UTC' || zone === 'Z') return 0;
  // Treat the wall-clock time as UTC, see what the zone shows at that instant, and correct once.
  const guess = Date.UTC(parts.year, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  const format = zoneFormat(zone);
  const offsetAt = (instant: number) => {
    const f = format.formatToParts(new Date(instant));
    const get = (t: string) => Number(f.find((p) => p.type === t)?.value);
    const shown = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
    return Math.round((shown - instant) / 60000);
  };
  const first = offsetAt(guess);
  return offsetAt(guess - first * 60000);
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The local timezone of this runtime (the default when the sender's is not configured). */
export function localZone(): string {
  runtimeZone ??= Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  return runtimeZone;
}
// Resolved once: it cannot change while the runtime runs, and resolving it builds a formatter.
let runtimeZone: string | undefined;

/**
 * DTM → FHIR dateTime (or a partial date when no time is given). Hours without minutes get ":00",
 * fractions keep their digits, a missing offset comes from `zone`. Undefined when invalid.
 */
export function dtmToFhirDateTime(value: string, zone?: string): string | undefined {
  const p = parseDtm(value);
  if (!p) return undefined;
  let out = String(p.year).padStart(4, '0');
  if (p.month === undefined) return out;
  out += `-${pad(p.month)}`;
  if (p.day === undefined) return out;
  out += `-${pad(p.day)}`;
  if (p.hour === undefined) return out;
  out += `T${pad(p.hour)}:${pad(p.minute ?? 0)}:${pad(p.second ?? 0)}`;
  if (p.fraction) out += `.${p.fraction}`;
  const offset = p.offset
    ? (p.offset[0] === '-' ? -1 : 1) * (Number(p.offset.slice(1, 3)) * 60 + Number(p.offset.slice(3, 5)))
    : zoneOffsetMinutes(zone ?? localZone(), p);
  return out + formatOffset(offset);
}

/** DTM → FHIR date (birth dates): the date part only. */
export function dtmToFhirDate(value: string): string | undefined {
  return dtmToFhirDateTime(value.trim().slice(0, 8), 'UTC');
}

/** FHIR date/dateTime/instant → DTM, keeping the precision and offset ('Z' → +0000). */
export function fhirToDtm(value: string | undefined): string {
  if (!value) return '';
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(value);
  if (!m) return '';
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  let out = y + (mo ?? '') + (d ?? '');
  if (h !== undefined) {
    out += h + mi + (s ?? '');
    if (frac) out += `.${frac.slice(0, 4)}`;
    if (tz) out += tz === 'Z' ? '+0000' : tz.replace(':', '');
  }
  return out;
}

/** Now as an HL7 DTM with seconds and offset, e.g. 20260105142233+0100. */
export function nowDtm(date = new Date()): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return (
    `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}
