// Reads the Markdown tables a benchmark printed (lib/table.ts) back into rows, for bench:all.
import { stripVTControlCharacters } from 'node:util';

export interface ParsedTable {
  title: string;
  headers: string[];
  rows: string[][];
}

/** One line of the combined table. */
export interface Figure {
  bench: string;
  figure: string;
  target: string;
  measured: string;
  result: 'PASS' | 'FAIL' | 'info' | 'ERROR';
}

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

/** Every `### title` followed by a Markdown table, in order. */
export function parseTables(output: string): ParsedTable[] {
  const lines = stripVTControlCharacters(output).split(/\r?\n/);
  const tables: ParsedTable[] = [];
  let title = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('### ')) {
      title = line.slice(4).trim();
      continue;
    }
    if (!line.trimStart().startsWith('|') || !/^\s*\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? '')) continue;
    const headers = cells(line);
    const rows: string[][] = [];
    for (i += 2; i < lines.length && lines[i].trimStart().startsWith('|'); i++) rows.push(cells(lines[i]));
    i--;
    tables.push({ title, headers, rows });
  }
  return tables;
}

/**
 * The figures of one benchmark's output: the rows of its check tables (Metric, Target, Measured,
 * Result); a benchmark without checks contributes its first table's rows and those of its Metric/Value
 * tables as information.
 */
export function figuresOf(bench: string, output: string): Figure[] {
  const tables = parseTables(output);
  const checks = tables.filter((t) => ['Metric', 'Target', 'Measured', 'Result'].every((h) => t.headers.includes(h)));
  if (checks.length > 0) {
    return checks.flatMap((t) => {
      const col = (name: string) => t.headers.indexOf(name);
      return t.rows.map((r) => {
        const result = r[col('Result')];
        const note = col('Note') >= 0 && r[col('Note')] ? ` (${r[col('Note')]})` : '';
        return {
          bench,
          figure: r[col('Metric')],
          target: r[col('Target')],
          measured: `${r[col('Measured')]}${note}`,
          result: result === 'PASS' || result === 'FAIL' ? result : 'info',
        };
      });
    });
  }
  // Without checks: the first table, and every Metric/Value table (the headline figures).
  const info = tables.filter((t, i) => i === 0 || (t.headers.length === 2 && t.headers[0] === 'Metric' && t.headers[1] === 'Value'));
  return info.flatMap((t) =>
    t.rows.map((r) => ({
      bench,
      figure: r[0],
      target: '',
      measured:
        r.length === 2
          ? r[1]
          : r
              .slice(1)
              .map((c, k) => `${t.headers[k + 1]} ${c}`)
              .join(', '),
      result: 'info' as const,
    })),
  );
}
