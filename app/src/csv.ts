/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote, line break or edge spaces, inner
 * quotes doubled. A leading = + - @ is prefixed with an apostrophe so a spreadsheet shows the
 * text instead of running it as a formula (a patient named "=HYPERLINK(...)" is data, not code).
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^-?\d+(\.\d+)?$/.test(value) ? `'${value}` : value;
  return /[",\r\n]|^\s|\s$/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** Rows to CSV text, CRLF between records as RFC 4180 says. */
export function toCsv(rows: readonly (readonly string[])[]): string {
  return rows.map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
