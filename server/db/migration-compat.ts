// During a rolling upgrade, release N still runs on the schema release N+1 migrated (see
// docs/operations.md, "Zero-downtime upgrades"). So an Up migration may only expand the schema;
// removing, renaming or tightening something is a later release's contract step. This module finds
// the statements that would break the previous release, so a test can keep every migration honest.

/** One statement of an Up migration that the previous release could not survive. */
export interface BreakingChange {
  /** 1-based line of the statement in the migration file. */
  line: number;
  rule: string;
  statement: string;
}

interface Rule {
  name: string;
  test: (statement: string) => boolean;
}

const RULES: Rule[] = [
  { name: 'drops a table the previous release uses', test: (s) => /^DROP\s+TABLE\b/i.test(s) },
  {
    name: 'drops a column the previous release reads',
    test: (s) => /^ALTER\s+TABLE\b[\s\S]*\bDROP\s+(COLUMN\b|(?!CONSTRAINT\b|DEFAULT\b|NOT\b|IDENTITY\b|EXPRESSION\b)\w)/i.test(s),
  },
  { name: 'removes a default the previous release inserts by', test: (s) => /^ALTER\s+TABLE\b[\s\S]*\bDROP\s+DEFAULT\b/i.test(s) },
  {
    name: 'renames what the previous release names',
    test: (s) => /^ALTER\s+(TABLE|INDEX|SEQUENCE|VIEW|FUNCTION)\b[\s\S]*\bRENAME\b/i.test(s),
  },
  { name: 'changes a column type', test: (s) => /^ALTER\s+TABLE\b[\s\S]*\bALTER\s+(COLUMN\s+)?\w+\s+(SET\s+DATA\s+)?TYPE\b/i.test(s) },
  { name: 'makes a column NOT NULL under writers that may omit it', test: (s) => /^ALTER\s+TABLE\b[\s\S]*\bSET\s+NOT\s+NULL\b/i.test(s) },
  {
    name: 'adds a NOT NULL column without a default (the previous release inserts without it)',
    test: (s) =>
      /^ALTER\s+TABLE\b/i.test(s) &&
      splitTopLevel(s).some(
        (clause) => /\bADD\s+(COLUMN\s+)?/i.test(clause) && /\bNOT\s+NULL\b/i.test(clause) && !/\b(DEFAULT|GENERATED)\b/i.test(clause),
      ),
  },
  {
    name: 'drops a function or trigger the previous release calls',
    test: (s) => /^DROP\s+(FUNCTION|PROCEDURE|TRIGGER|VIEW|TYPE|SEQUENCE)\b/i.test(s),
  },
];

/** The Up part of a node-pg-migrate SQL file: everything before `-- Down Migration`. */
export function upSection(sql: string): string {
  const down = sql.search(/^--\s*Down Migration\s*$/im);
  return down < 0 ? sql : sql.slice(0, down);
}

/**
 * Statements with their starting line, comments and string/dollar-quoted bodies blanked out so a
 * keyword inside a function body or a comment is not mistaken for DDL. Newlines are kept so line
 * numbers stay right.
 */
export function statements(sql: string): { line: number; text: string }[] {
  let clean = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    const dollar = /^\$(\w*)\$/.exec(rest);
    let end = -1;
    if (rest.startsWith('--')) end = indexOrEnd(sql, '\n', i);
    else if (rest.startsWith('/*')) end = indexOrEnd(sql, '*/', i + 2) + 2;
    else if (rest.startsWith("'")) end = closingQuote(sql, i);
    else if (dollar) end = indexOrEnd(sql, dollar[0], i + dollar[0].length) + dollar[0].length;
    if (end >= 0) {
      const span = sql.slice(i, Math.min(end, sql.length));
      const quoted = !rest.startsWith('--') && !rest.startsWith('/*');
      clean += (quoted ? "''" : '') + span.replace(/[^\n]/g, '');
      i = Math.min(end, sql.length);
      continue;
    }
    clean += sql[i];
    i++;
  }
  const out: { line: number; text: string }[] = [];
  let line = 1;
  for (const part of clean.split(';')) {
    const leading = /^\s*/.exec(part)?.[0] ?? '';
    const text = part.trim();
    if (text) out.push({ line: line + (leading.match(/\n/g)?.length ?? 0), text: text.replace(/\s+/g, ' ') });
    line += part.match(/\n/g)?.length ?? 0;
  }
  return out;
}

/** Every statement of the migration's Up section that release N could not run against. */
export function breakingChanges(sql: string): BreakingChange[] {
  const found: BreakingChange[] = [];
  for (const { line, text } of statements(upSection(sql))) {
    for (const rule of RULES) {
      if (rule.test(text)) found.push({ line, rule: rule.name, statement: text });
    }
  }
  return found;
}

function indexOrEnd(s: string, needle: string, from: number): number {
  const at = s.indexOf(needle, from);
  return at < 0 ? s.length : at;
}

/** Index just past the closing quote of the literal starting at `start` ('' is an escaped quote). */
function closingQuote(s: string, start: number): number {
  let i = start + 1;
  while (i < s.length) {
    if (s[i] === "'") {
      if (s[i + 1] === "'") i += 2;
      else return i + 1;
    } else i++;
  }
  return s.length;
}

/** Comma-separated clauses of one ALTER TABLE, ignoring commas inside parentheses. */
function splitTopLevel(statement: string): string[] {
  const clauses: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of statement) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      clauses.push(current);
      current = '';
    } else current += ch;
  }
  clauses.push(current);
  return clauses;
}
