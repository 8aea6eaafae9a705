// Offline triage benchmark.
//
//   node scripts/bench/triage.ts            (npm run bench:triage)
//
// Generates BENCH_CASES (default 10,000) varied, seeded cases (all ages, ~100 chief-complaint
// phrasings with abbreviations, misspellings and negations, abnormal and missing vitals), then runs
// the offline command as a user would — `node scripts/triage.ts cases.jsonl` in a child process —
// BENCH_RUNS times (default 3). Wall time includes process start-up; CPU time is the child's
// user + system time (from /proc/self/stat cutime/cstime, i.e. the waited-for child). The target
// (issue 5): 10,000 cases in ≤ 5 s. An empty input measures start-up alone.
//
// Environment: BENCH_CASES, BENCH_RUNS, BENCH_SEED; BENCH_CASES_FILE keeps the generated cases at that path.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { rng } from './lib/data.ts';
import { type Check, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const CASES = num(process.env.BENCH_CASES, 10_000);
const RUNS = num(process.env.BENCH_RUNS, 3);
const SEED = num(process.env.BENCH_SEED, 20_240_605);
const TARGET_MS = 5000;
const ROOT = resolve(import.meta.dirname, '../..');
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const COMPLAINTS = [
  'ant. chest pain',
  'CP radiating to L arm',
  'chest tightness, denies SOB',
  'SOB',
  'shortness of breath x2 days',
  "can't breathe",
  'wheezing, h/o asthma',
  'abd pain',
  'RLQ pain, N/V',
  'stomach hurts',
  'epigastric pain after eating',
  'HA',
  'worst headache of my life',
  'migraine, photophobia',
  'facial droop, slurred speech',
  'L sided weakness',
  'mental change',
  'AMS',
  'confused, not acting right',
  'fever',
  'feaver and cough',
  'fever, on chemo',
  'fever, kidney transplant',
  'syncope',
  'passed out at work',
  'dizzy, lightheaded',
  'siezure',
  'seizure, postictal',
  's/p fall from ladder',
  'fall at home, hit head, on coumadin',
  'mechanical fall, hip pain',
  'MVC, restrained driver, neck pain',
  'rollover MVC',
  'ped vs auto',
  'GSW to abd',
  'stab wound to chest',
  'OD',
  'took too many pills',
  'SI',
  'suicidal ideation, plan to OD',
  'hearing voices',
  'anxiety, panic attack',
  'vomiting blood',
  'BRBPR',
  'black tarry stools',
  'vaginal bleeding, 8 weeks pregnant',
  'heavy period',
  'testicular pain',
  'scrotal swelling',
  'allergic reaction, hives',
  'lip swelling after peanuts',
  'anaphylaxis',
  'back pain',
  'LBP after lifting',
  'lac to R hand',
  'cut finger on knife',
  'sprained ankle',
  'twisted knee playing soccer',
  'wrist injury after FOOSH',
  'rash',
  'itchy rash on arms',
  'sore throat',
  'strep throat?',
  'earache',
  'pulling at ears',
  'UTI sx',
  'burning with urination',
  'med refill',
  'needs prescription refill',
  'toothache',
  'nosebleed',
  'pink eye',
  'cold symptoms, runny nose',
  'N/V/D',
  'diarrhea x3 days',
  'constipation',
  'kidney stone',
  'flank pain',
  'high blood sugar',
  'low blood sugar',
  'palpitations',
  'heart racing, h/o afib',
  'leg swelling',
  'calf pain after flight',
  'burn to hand from stove',
  'dog bite',
  'foreign body in eye',
  'swallowed coin',
  'weakness',
  'generalized weakness, poor PO intake',
  'fussy, poor feeding',
  'croup, barking cough',
  'insect sting',
  'suture removal',
  'work note',
  'r/o MI',
  'CP, SOB, diaphoretic',
  'withdrawal, shakes',
  'intoxicated',
  'sexual assault',
  'blah blah',
  '',
];
const ARRIVALS = ['walk-in', 'ambulance', 'private vehicle', 'police', 'helicopter'];
const MECHANISMS = ['fall from standing', 'fall from ladder', 'MVC', 'assault', 'sports injury', 'rollover at highway speed'];

interface Norms {
  hr: number;
  rr: number;
}

function norms(ageYears: number): Norms {
  if (ageYears < 0.25) return { hr: 145, rr: 40 };
  if (ageYears < 3) return { hr: 125, rr: 30 };
  if (ageYears <= 8) return { hr: 100, rr: 22 };
  return { hr: 80, rr: 16 };
}

function generateCases(n: number, seed: number): string[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const around = (mean: number, spread: number) => Math.round(mean + (r() + r() + r() - 1.5) * spread);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const band = r();
    const ageYears = band < 0.04 ? r() * 0.25 : band < 0.12 ? 0.25 + r() * 2.75 : band < 0.22 ? 3 + r() * 5 : 9 + r() * 86;
    const { hr, rr } = norms(ageYears);
    const sick = r() < 0.2;
    const vitals: Record<string, number | boolean> = {
      hr: around(sick ? hr * 1.35 : hr, 25),
      rr: around(sick ? rr * 1.4 : rr, 6),
      spo2: Math.min(100, around(sick ? 92 : 98, 5)),
      temp: Math.round((36.9 + (sick && r() < 0.6 ? 1.5 : 0) + (r() - 0.5) * 1.6) * 10) / 10,
    };
    if (ageYears >= 3) {
      vitals.sbp = around(sick ? 105 : 128, 30);
      vitals.dbp = around(78, 14);
    }
    if (r() < 0.3) vitals.onOxygen = r() < 0.15;
    // Missing vitals: some fields in 15 % of cases, all of them in 3 %.
    if (r() < 0.15) for (const k of Object.keys(vitals)) if (r() < 0.4) delete vitals[k];
    const c: Record<string, unknown> = {
      age: ageYears < 1 ? `${Math.max(1, Math.round(ageYears * 365.25))}d` : Math.round(ageYears * 10) / 10,
      sex: r() < 0.5 ? 'female' : 'male',
      chiefComplaint: pick(COMPLAINTS),
      arrivalMode: pick(ARRIVALS),
      injury: r() < 0.15 ? pick(MECHANISMS) : r() < 0.5 ? false : undefined,
      mentalStatus: r() < 0.9 ? 'A' : pick(['V', 'P', 'U', 'C']),
      // Skewed low, as reported pain is in an ED waiting room.
      painScore: r() < 0.8 ? Math.round(10 * r() ** 1.6) : undefined,
    };
    if (r() > 0.03) c.vitals = vitals;
    lines.push(JSON.stringify(c));
  }
  return lines;
}

/** CPU ticks of this process's waited-for children (cutime + cstime in /proc/self/stat). */
function childTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[13]) + Number(rest[14]);
}

interface Run {
  wallMs: number;
  cpuMs: number;
  lines: string[];
  exitCode: number | null;
}

async function runCommand(file: string): Promise<Run> {
  const before = childTicks();
  const start = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'scripts/triage.ts'), file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const exitCode = await new Promise<number | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', res);
  });
  const wallMs = performance.now() - start;
  const cpuMs = ((childTicks() - before) * 1000) / TICKS_PER_SECOND;
  return { wallMs, cpuMs, exitCode, lines: Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-triage-'));
  onCleanup('remove case files', () => rmSync(dir, { recursive: true, force: true }));
  const file = process.env.BENCH_CASES_FILE ? resolve(process.env.BENCH_CASES_FILE) : join(dir, 'cases.jsonl');
  const empty = join(dir, 'empty.jsonl');
  const t0 = performance.now();
  writeFileSync(file, `${generateCases(CASES, SEED).join('\n')}\n`);
  writeFileSync(empty, '');
  log(
    `generated ${CASES.toLocaleString('en-US')} cases (seed ${SEED}) in ${fmtMs(performance.now() - t0)}; load average ${loadavg()[0].toFixed(2)}`,
  );

  const startup = await runCommand(empty);
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await runCommand(file);
    log(`run ${i + 1}: ${fmtMs(run.wallMs)} wall, ${fmtMs(run.cpuMs)} CPU, ${run.lines.length} lines, exit ${run.exitCode}`);
    runs.push(run);
  }
  const last = runs[runs.length - 1];
  const outputs = last.lines.map((l) => JSON.parse(l) as { esi?: number; news2?: number | null; error?: string });
  const errors = outputs.filter((o) => o.error).length;
  const byLevel = [1, 2, 3, 4, 5].map((level) => outputs.filter((o) => o.esi === level).length);
  const noNews2 = outputs.filter((o) => o.esi !== undefined && o.news2 === null).length;

  printTable(
    'Offline triage runs',
    ['Run', 'Cases', 'Wall', 'CPU (child)', 'Cases/s (wall)', 'CPU per case'],
    [
      ['start-up only (empty file)', 0, fmtMs(startup.wallMs), fmtMs(startup.cpuMs), '', ''],
      ...runs.map((r, i) => [
        `${i + 1}`,
        r.lines.length,
        fmtMs(r.wallMs),
        fmtMs(r.cpuMs),
        fmtRate((CASES * 1000) / r.wallMs),
        `${((r.cpuMs * 1000) / CASES).toFixed(0)} µs`,
      ]),
    ],
  );
  printTable(
    'Triage levels (last run)',
    ['ESI 1', 'ESI 2', 'ESI 3', 'ESI 4', 'ESI 5', 'NEWS2 null (nothing measured)', 'error lines'],
    [[...byLevel, noNews2, errors]],
  );
  const wall = median(runs.map((r) => r.wallMs));
  const checks: Check[] = [
    {
      metric: `${CASES.toLocaleString('en-US')} cases, offline command (median of ${RUNS})`,
      target: `≤ ${TARGET_MS / 1000} s`,
      measured: fmtMs(wall),
      pass: CASES >= 10_000 ? wall <= TARGET_MS : undefined,
      note: `includes start-up (${fmtMs(startup.wallMs)}); load average ${loadavg()[0].toFixed(2)}`,
    },
    {
      metric: 'one output line per case, no errors',
      target: `${CASES.toLocaleString('en-US')} lines, 0 errors, exit 0`,
      measured: `${last.lines.length.toLocaleString('en-US')} lines, ${errors} errors, exit ${last.exitCode}`,
      pass: last.lines.length === CASES && errors === 0 && last.exitCode === 0,
    },
  ];
  printChecks('Triage benchmark', checks);
  if (checks.some((c) => c.pass === false)) process.exitCode = 1;
}

runMain(main);
