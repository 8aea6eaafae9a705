/**
 * Age as the triage rules need it: ESI v4's four danger-zone bands, the pediatric fever bands, and
 * the age-specific hypotension limits. Age in days is exact for infants; years are converted with
 * 365.25 days per year and 3 months counted as 90 days.
 */

export const DAYS_PER_YEAR = 365.25;

export interface Age {
  days?: number;
  years?: number;
}

/** Age from whichever is given (days win); undefined fields when neither is a usable number. */
export function resolveAge(ageDays?: number, ageYears?: number): Age {
  if (ageDays !== undefined && Number.isFinite(ageDays) && ageDays >= 0) return { days: ageDays, years: ageDays / DAYS_PER_YEAR };
  if (ageYears !== undefined && Number.isFinite(ageYears) && ageYears >= 0) return { days: ageYears * DAYS_PER_YEAR, years: ageYears };
  return {};
}

export type AgeBandId = 'under-3-months' | '3-months-to-3-years' | '3-to-8-years' | 'over-8-years';

export interface AgeBand {
  id: AgeBandId;
  label: string;
  /** ESI v4 danger zone: heart rate above this. */
  hr: number;
  /** ESI v4 danger zone: respiratory rate above this. */
  rr: number;
  /** True when age is unknown and the adult band was used (its limits are the lowest, so the most sensitive). */
  assumed: boolean;
}

const BANDS: Record<AgeBandId, Omit<AgeBand, 'assumed'>> = {
  'under-3-months': { id: 'under-3-months', label: '< 3 months', hr: 180, rr: 50 },
  '3-months-to-3-years': { id: '3-months-to-3-years', label: '3 months – 3 years', hr: 160, rr: 40 },
  '3-to-8-years': { id: '3-to-8-years', label: '3 – 8 years', hr: 140, rr: 30 },
  'over-8-years': { id: 'over-8-years', label: '> 8 years', hr: 100, rr: 20 },
};

export function ageBand(age: Age): AgeBand {
  if (age.days === undefined || age.years === undefined) return { ...BANDS['over-8-years'], assumed: true };
  if (age.days < 90) return { ...BANDS['under-3-months'], assumed: false };
  if (age.years < 3) return { ...BANDS['3-months-to-3-years'], assumed: false };
  if (age.years <= 8) return { ...BANDS['3-to-8-years'], assumed: false };
  return { ...BANDS['over-8-years'], assumed: false };
}

/**
 * Systolic pressure below which a child is hypotensive (PALS, AHA 2020: < 60 mmHg in term
 * neonates, < 70 in infants, < 70 + 2 × age in years from 1 to 10). In a child hypotension is a
 * late sign of decompensated shock, so it needs immediate resuscitation (ESI decision point A).
 * Undefined from 10 years, where adult limits apply.
 */
export function pediatricHypotensionLimit(age: Age): number | undefined {
  if (age.days === undefined || age.years === undefined || age.years >= 10) return undefined;
  if (age.days <= 28) return 60;
  if (age.years < 1) return 70;
  return 70 + 2 * Math.floor(age.years);
}

/** Human-readable age for the rationale. */
export function describeAge(age: Age): string {
  if (age.days === undefined || age.years === undefined) return 'age unknown';
  if (age.days < 90) return `${Math.round(age.days)} days`;
  if (age.years < 2) return `${Math.round(age.days / 30.44)} months`;
  return `${Math.floor(age.years)} years`;
}

/** Age in days at `at` from a FHIR birth date (year or year-month only: mid-period); undefined when unknown. */
export function ageInDays(birthDate: string | undefined, at: string | undefined): number | undefined {
  if (!birthDate || !at) return undefined;
  const born = Date.parse(birthDate.length === 4 ? `${birthDate}-07-01` : birthDate.length === 7 ? `${birthDate}-15` : birthDate);
  const now = Date.parse(at);
  if (Number.isNaN(born) || Number.isNaN(now) || now < born) return undefined;
  return Math.floor((now - born) / 86_400_000);
}
