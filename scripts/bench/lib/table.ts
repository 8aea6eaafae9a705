// Plain-text tables (Markdown-compatible) for benchmark output.

export type Cell = string | number | undefined;

function cellText(c: Cell): string {
  if (c === undefined) return '';
  if (typeof c === 'number') return Number.isInteger(c) ? c.toLocaleString('en-US') : c.toFixed(1);
  return c;
}

/** Formats rows as a Markdown table; numeric-looking columns are right-aligned. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => text.length > 0 && text.every((r) => r[i] === '' || /^[-+≥≤<>~]?\s?[\d.,]+\s?\S*$/.test(r[i])));
  const pad = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(headers), sep, ...text.map(line)].join('\n');
}

export function printTable(title: string, headers: string[], rows: Cell[][]): void {
  process.stdout.write(`\n### ${title}\n\n${formatTable(headers, rows)}\n`);
}

/** One pass/fail line of a results table. */
export interface Check {
  metric: string;
  target: string;
  measured: string;
  pass: boolean | undefined;
  note?: string;
}

export function printChecks(title: string, checks: Check[]): void {
  printTable(
    title,
    ['Metric', 'Target', 'Measured', 'Result', 'Note'],
    checks.map((c) => [c.metric, c.target, c.measured, c.pass === undefined ? 'info' : c.pass ? 'PASS' : 'FAIL', c.note ?? '']),
  );
}

export const fmtMs = (ms: number | undefined): string =>
  ms === undefined || !Number.isFinite(ms) ? 'n/a' : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
export const fmtRate = (n: number, unit = '/s'): string => `${Math.round(n).toLocaleString('en-US')}${unit}`;
export const fmtMb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;

export function log(message: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[${t}] ${message}\n`);
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
