import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { type CaseOutput, parseAgeDays, parseTriageCase, triageLine } from '../bots/triage/case.ts';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'triage-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], stdin?: string) {
  const r = spawnSync(process.execPath, [join(root, 'scripts/triage.ts'), ...args], { input: stdin, encoding: 'utf8', cwd: root });
  const lines = r.stdout.split('\n').filter(Boolean);
  return { status: r.status, stderr: r.stderr, out: lines.map((l) => JSON.parse(l) as CaseOutput) };
}

test('the command: one JSON line per case, an error line per malformed line, missing vitals do not stop it', () => {
  const file = join(dir, 'cases.jsonl');
  writeFileSync(
    file,
    [
      JSON.stringify({
        age: 58,
        sex: 'male',
        chiefComplaint: 'ant. chest pain',
        mentalStatus: 'A',
        vitals: { hr: 112, rr: 22, sbp: 150, spo2: 95, temp: 37 },
      }),
      '{"age": 30, "chiefComplaint": "sprained ankle"',
      '',
      JSON.stringify({ age: 25, chiefComplaint: 'abd pain' }),
      JSON.stringify({ age: 40, chiefComplaint: 'cough', vitals: { hr: 'fast', spo2: 97 } }),
      '[1, 2]',
      JSON.stringify({ age: 70, chiefComplaint: 'mental change', mentalStatus: 'U' }),
    ].join('\n'),
  );
  const { status, stderr, out } = run([file]);
  expect(status).toBe(1);
  expect(stderr).toContain('2 malformed line(s)');
  expect(out.map((o) => o.line)).toEqual([1, 2, 4, 5, 6, 7]);
  expect(out[0]).toMatchObject({ line: 1, esi: 2, news2: 5 });
  expect(out[0].rationale).toContain('decision point B');
  expect(Object.keys(out[0]).sort()).toEqual(['esi', 'line', 'news2', 'rationale']);
  expect(out[1]).toMatchObject({ line: 2 });
  expect(out[1].error).toMatch(/^invalid JSON/);
  // No vitals at all: no NEWS2, ESI from the complaint, and the rationale says what is unknown.
  expect(out[2]).toMatchObject({ line: 4, esi: 3, news2: null });
  expect(out[2].rationale).toContain('Not measured: HR, RR, SpO2, SBP, T (unknown, not assumed normal');
  expect(out[3]).toMatchObject({ line: 5, esi: 4, news2: 0, warnings: ['vitals.hr: "fast" is not a number; treated as not recorded'] });
  expect(out[4]).toEqual({ line: 6, error: 'a case must be a JSON object' });
  expect(out[5]).toMatchObject({ line: 7, esi: 1 });
});

test('the command reads stdin with "-", and the example file triages cleanly', () => {
  const example = readFileSync(join(root, 'scripts/triage-cases.example.jsonl'), 'utf8');
  const { status, out } = run(['-'], example);
  expect(status).toBe(0);
  expect(out).toHaveLength(example.trim().split('\n').length);
  expect(out.every((o) => o.esi !== undefined && o.esi >= 1 && o.esi <= 5 && typeof o.rationale === 'string')).toBe(true);
  expect(new Set(out.map((o) => o.esi))).toEqual(new Set([1, 2, 3, 4, 5]));
});

test('usage errors', () => {
  expect(run([]).status).toBe(2);
  const missing = run([join(dir, 'nope.jsonl')]);
  expect(missing.status).toBe(2);
  expect(missing.stderr).toContain('cannot read');
});

test('case fields: units of age, ACVPU confusion, numeric strings, unusable values become warnings', () => {
  expect(parseAgeDays(2)).toBeCloseTo(730.5);
  expect(parseAgeDays('10d')).toBe(10);
  expect(parseAgeDays('6 weeks')).toBe(42);
  expect(parseAgeDays('4mo')).toBeCloseTo(121.76);
  expect(parseAgeDays('old')).toBeUndefined();
  const parsed = parseTriageCase({
    age: '3y',
    sex: 'F',
    mentalStatus: 'c',
    painScore: '7',
    injury: 'yes',
    vitals: { sbp: '120', temp: null, spo2: 'low', onOxygen: 'yes' },
    pregnant: 'maybe',
  });
  expect(parsed).toEqual({
    ok: true,
    input: { ageDays: 3 * 365.25, sex: 'female', newConfusion: true, painScore: 7, injury: true, vitals: { sbp: 120, onOxygen: true } },
    warnings: [
      'pregnant: "maybe" is not true or false; treated as not recorded',
      'vitals.spo2: "low" is not a number; treated as not recorded',
    ],
  });
  expect(triageLine('   ', 3)).toBeUndefined();
});
