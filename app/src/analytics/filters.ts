/**
 * The dashboard's filters live in the URL (`/analytics?from=2026-03-02&to=2026-03-08&tz=Europe/Paris&area=resus&acuity=1,2`),
 * so a link reproduces the same numbers for anyone. Days are inclusive local calendar days in `tz`.
 */

export interface AnalyticsFilters {
  /** First and last local day (YYYY-MM-DD), inclusive. */
  from: string;
  to: string;
  /** IANA time zone the days and arrival hours are read in. */
  tz: string;
  /** ED area Location id, or a bed zone code. */
  area?: string;
  /** ESI levels. */
  acuity: number[];
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The local calendar day of an instant in a time zone. */
export function localDay(instant: Date, tz: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(instant);
}

/** The day after `day`. */
export function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** Milliseconds the zone is ahead of UTC at an instant. */
function offsetMs(instant: number, tz: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, p.value]),
  );
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** The instant a local day begins in a time zone (midnight, or the first instant after a DST gap). */
export function startOfDay(day: string, tz: string): Date {
  const guess = Date.parse(`${day}T00:00:00Z`);
  let instant = guess - offsetMs(guess, tz);
  // The offset at the guess may differ from the offset at local midnight (a DST change in between).
  instant = guess - offsetMs(instant, tz);
  return new Date(instant);
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Reads the filters from the URL; missing or unreadable values take the defaults (today, one day, the browser's zone). */
export function readFilters(params: URLSearchParams, now: Date, defaultTz: string): AnalyticsFilters {
  let tz = params.get('tz') || defaultTz;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    tz = defaultTz;
  }
  const today = localDay(now, tz);
  const from = DAY_RE.test(params.get('from') ?? '') ? (params.get('from') as string) : today;
  const toParam = params.get('to') ?? '';
  const to = DAY_RE.test(toParam) && toParam >= from ? toParam : from;
  const acuity = (params.get('acuity') ?? '')
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 1 && n <= 5);
  return { from, to, tz, area: params.get('area') || undefined, acuity: [...new Set(acuity)].sort() };
}

export function writeFilters(f: AnalyticsFilters): URLSearchParams {
  const params = new URLSearchParams({ from: f.from, to: f.to, tz: f.tz });
  if (f.area) params.set('area', f.area);
  if (f.acuity.length) params.set('acuity', f.acuity.join(','));
  return params;
}

/** The `Measure/$ed-metrics` query of the filters (computed only: the dashboard does not store reports on every refresh). */
export function metricsQuery(f: AnalyticsFilters): URLSearchParams {
  const params = new URLSearchParams({
    start: startOfDay(f.from, f.tz).toISOString(),
    end: startOfDay(nextDay(f.to), f.tz).toISOString(),
    tz: f.tz,
    store: 'false',
  });
  if (f.area) params.set('area', f.area);
  if (f.acuity.length) params.set('acuity', f.acuity.join(','));
  return params;
}

/** Whether the period includes the present, so new arrivals change it (the live view). */
export function includesNow(f: AnalyticsFilters, now: Date): boolean {
  const t = now.getTime();
  return startOfDay(f.from, f.tz).getTime() <= t && t < startOfDay(nextDay(f.to), f.tz).getTime();
}
