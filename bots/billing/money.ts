/**
 * Money as integer cents. Amounts are parsed from their decimal text and never pass through a
 * binary fraction, so $0.10 + $0.20 is exactly $0.30 and percentages round once, half up, to the cent.
 */
import type { Money } from '@medplum/fhirtypes';

export type Cents = number;

/** Cents from a decimal amount (a FHIR Money value, a number or its text): "12.3" → 1230. */
export function toCents(value: number | string | undefined): Cents {
  if (value === undefined) return 0;
  const text = typeof value === 'number' ? value.toString() : value.trim();
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m) throw new Error(`not a money amount: ${text}`);
  const fraction = (m[3] ?? '').padEnd(3, '0');
  let cents = Number(m[2]) * 100 + Number(fraction.slice(0, 2));
  if (Number(fraction[2]) >= 5) cents += 1;
  if (!Number.isSafeInteger(cents)) throw new Error(`money amount out of range: ${text}`);
  return m[1] ? -cents : cents;
}

/** The decimal of some cents, for FHIR Money.value (1230 → 12.3, serialised as 12.3). */
export function toDecimal(cents: Cents): number {
  return Number(formatPlain(cents));
}

function formatPlain(cents: Cents): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export function money(cents: Cents, currency: Money['currency'] = 'USD'): Money {
  return { value: toDecimal(cents), currency };
}

/** "$1,234.50" */
export function format(cents: Cents): string {
  const sign = cents < 0 ? '-' : '';
  const [whole, frac] = formatPlain(Math.abs(cents)).split('.');
  return `${sign}$${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${frac}`;
}

/** `percent` % of an amount, rounded half up to the cent (percent may have up to 2 decimals). */
export function percentOf(cents: Cents, percent: number | string): Cents {
  const basisPoints = toCents(percent); // 20 → 2000, 12.5 → 1250
  const numerator = cents * basisPoints;
  if (!Number.isSafeInteger(numerator)) throw new Error('amount too large for a percentage');
  return Math.floor((numerator + 5000) / 10000);
}

export function sum(values: Cents[]): Cents {
  return values.reduce((a, b) => a + b, 0);
}
