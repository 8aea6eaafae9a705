import { badRequest, OperationOutcomeError } from '@medplum/core';

/** A half-open interval [lo, hi). */
export interface Range<T> {
  lo: T;
  hi: T;
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function invalidDate(value: string, paramCode: string, what = 'date'): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(`Invalid ${what} value "${value}" for search parameter ${paramCode}`, paramCode));
}

function zoneOffsetMinutes(tz: string | undefined): number {
  if (!tz || tz === 'Z') {
    return 0;
  }
  const sign = tz.startsWith('-') ? -1 : 1;
  return sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
}

/**
 * The instant range a FHIR date value covers: "2024" is the whole year, "2024-02" the whole of
 * February, "2024-03-01T10:00" the whole minute. Values without a zone are read as UTC (the
 * server's documented convention). Used for search values and for stored values alike, so both
 * sides of a comparison agree on what a partial date means.
 */
export function parseDateRange(value: string, paramCode: string): Range<Date> {
  const m = DATE_RE.exec(value);
  if (!m) {
    throw invalidDate(value, paramCode);
  }
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  const hour = h ? Number(h) : 0;
  const minute = mi ? Number(mi) : 0;
  const second = s ? Number(s) : 0;
  if (month > 11 || hour > 23 || minute > 59 || second > 59 || (tz && Math.abs(zoneOffsetMinutes(tz)) > 14 * 60)) {
    throw invalidDate(value, paramCode);
  }
  // setUTCFullYear, not Date.UTC: the latter maps years 0-99 to 1900-1999.
  const calendar = new Date(0);
  calendar.setUTCFullYear(year, month, day);
  if (calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month || calendar.getUTCDate() !== day) {
    throw invalidDate(value, paramCode, 'calendar date');
  }
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  calendar.setUTCHours(hour, minute, second, ms);
  const lo = new Date(calendar.getTime() - zoneOffsetMinutes(tz) * 60_000);
  const hi = new Date(lo);
  if (frac) {
    hi.setTime(lo.getTime() + 1);
  } else if (s) {
    hi.setTime(lo.getTime() + 1000);
  } else if (mi) {
    hi.setTime(lo.getTime() + 60_000);
  } else if (d) {
    hi.setUTCDate(hi.getUTCDate() + 1);
  } else if (mo) {
    hi.setUTCMonth(hi.getUTCMonth() + 1);
  } else {
    hi.setUTCFullYear(hi.getUTCFullYear() + 1);
  }
  return { lo, hi };
}

/**
 * An instant as PostgreSQL timestamptz text. Beyond year 9999 ISO strings gain a sign and six
 * digits that PostgreSQL rejects; such bounds mean "unbounded" here anyway.
 */
export function toTimestamp(date: Date): string {
  const year = date.getUTCFullYear();
  if (year > 9999) {
    return 'infinity';
  }
  if (year < 1) {
    return '-infinity';
  }
  return date.toISOString();
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const MAX_NUMBER_LENGTH = 64;

/** A parsed number search value: the exact text, and half a unit of its last significant digit. */
export interface NumberValue {
  exact: string;
  /** "0" when the value carries no implicit range (exponent form): equality is exact. */
  half: string;
}

/**
 * A number search value and half a unit of its last significant digit: "100" stands for
 * [99.5, 100.5), "100.00" for [99.995, 100.005) (FHIR search, number). Exponent forms are exact.
 */
export function parseNumberValue(value: string, paramCode: string): NumberValue {
  if (value.length > MAX_NUMBER_LENGTH || !NUMBER_RE.test(value) || !Number.isFinite(Number(value))) {
    throw new OperationOutcomeError(badRequest(`Invalid number "${value}" for search parameter ${paramCode}`, paramCode));
  }
  const exact = value.replace(/^\+/, '');
  if (/[eE]/.test(value)) {
    return { exact, half: '0' };
  }
  const decimals = exact.includes('.') ? exact.split('.')[1].length : 0;
  return { exact, half: decimals === 0 ? '0.5' : `0.${'0'.repeat(decimals)}5` };
}
