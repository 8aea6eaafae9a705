import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Observation, Subscription } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { rng } from '../../scripts/bench/lib/data.ts';
import { matchesFhirPath } from '../../server/subscriptions/matcher.ts';
import { EXT } from '../../server/subscriptions/subscription.ts';
import { assessVitals } from './assess.ts';
import { SEVERITY_RANK } from './findings.ts';
import { assessmentCriteria, QUIET_RANGES, SWEEP_TRENDS, trendCanEndQuiet } from './reading-filter.ts';
import { bp, hr, spo2, vital } from './test-helpers.ts';
import { DEFAULT_TRENDS } from './trends.ts';

const criteria = assessmentCriteria();
const reachesBot = (obs: Observation) => matchesFhirPath(criteria, obs, undefined);
const AGES = [0.05, 0.5, 2, 5, 9, 12, 15, 16, 40, 90, undefined];

test('the Observation Subscription carries exactly this criteria (the two cannot drift apart)', () => {
  const subs = JSON.parse(readFileSync(resolve(import.meta.dirname, 'subscriptions.json'), 'utf8')) as Subscription[];
  const observation = subs.filter((s) => s.criteria?.startsWith('Observation'));
  expect(observation).toHaveLength(1);
  expect(observation[0].criteria).toBe('Observation?category=vital-signs');
  expect(observation[0].extension?.find((e) => e.url === EXT.fhirPath)?.valueString).toBe(criteria);
});

describe('a quiet reading cannot raise an alert by itself', () => {
  for (const range of QUIET_RANGES) {
    test(`${range.key} ${range.min}–${range.max} ${range.units[0]}: NEWS2 sub-score 0, no threshold at any age, not sent to the bot`, () => {
      for (let v = range.min; v <= range.max + 1e-9; v = Math.round((v + 0.1) * 10) / 10) {
        for (const code of range.codes) {
          const obs = vital(code, v, range.units[0], 0);
          expect(reachesBot(obs), `${code} ${v}`).toBe(false);
          for (const ageYears of AGES) {
            const a = assessVitals([obs], { ageYears });
            expect(a.findings, `${code} ${v} at ${ageYears} years`).toEqual([]);
            expect(a.news2.score).toBe(0);
          }
        }
      }
    });

    test(`${range.key} just outside the quiet range goes to the bot`, () => {
      expect(reachesBot(vital(range.codes[0], range.min - 1, range.units[0], 0))).toBe(true);
      expect(reachesBot(vital(range.codes[0], range.max + 1, range.units[0], 0))).toBe(true);
    });
  }

  test('after any earlier readings, a quiet one raises no score and adds no finding but a sweep trend or a lower band (randomized)', () => {
    const r = rng(5);
    const pick = <T>(list: T[]) => list[Math.floor(r() * list.length)];
    const sweepCodes = new Set(SWEEP_TRENDS.map((t) => `trend:${t.code}`));
    const extra = (v: number, lo: number, hi: number) => lo + v * (hi - lo);
    for (let run = 0; run < 400; run++) {
      const before: Observation[] = [];
      for (let k = 0; k < 8; k++) {
        const range = pick(QUIET_RANGES);
        const value = Math.round(extra(r(), range.min - 40, range.max + 40) * 10) / 10;
        before.push(vital(range.codes[0], range.key === 'spo2' ? Math.min(100, value) : value, range.units[0], -50 + k * 6));
      }
      const range = pick(QUIET_RANGES);
      const quiet = vital(range.codes[0], Math.round(extra(r(), range.min, range.max) * 10) / 10, range.units[0], 0);
      const ageYears = pick(AGES);
      const previous = assessVitals(before, { ageYears });
      const next = assessVitals([...before, quiet], { ageYears });
      const old = new Set(previous.findings.map((f) => `${f.code}/${f.severity}`));
      const why = JSON.stringify({
        before: before.map((o) => [o.code.coding?.[0].code, o.valueQuantity?.value]),
        quiet: quiet.valueQuantity,
      });
      expect(next.news2.score ?? 0, why).toBeLessThanOrEqual(previous.news2.score ?? 0);
      // What may be new: a sweep trend, or a lower NEWS2 band than one already open (the patient improved).
      const worstNews2 = Math.max(-1, ...previous.findings.filter((f) => f.kind === 'news2').map((f) => SEVERITY_RANK[f.severity]));
      const added = next.findings.filter(
        (f) =>
          !old.has(`${f.code}/${f.severity}`) &&
          !sweepCodes.has(f.code) &&
          !(f.kind === 'news2' && SEVERITY_RANK[f.severity] <= worstNews2),
      );
      expect(added, why).toEqual([]);
    }
  });
});

describe('what still reaches the bot', () => {
  test('abnormal values, other shapes and codes; nothing without a device', () => {
    expect(reachesBot(hr(95, 0))).toBe(true); // NEWS2 pulse 1
    expect(reachesBot(spo2(96, 0))).toBe(true); // can end a 100 → 96 fall
    expect(reachesBot(spo2(84, 0))).toBe(true);
    expect(reachesBot({ ...bp(120, 80, 0), device: { reference: 'Device/d1' } })).toBe(true); // a panel
    expect(reachesBot(vital('8310-5', 98.6, '[degF]', 0))).toBe(true); // converted unit
    expect(reachesBot(vital('67775-7', 0, '', 0, { valueQuantity: undefined, valueCodeableConcept: { text: 'alert' } }))).toBe(true);
    expect(
      reachesBot(vital('8867-4', 72, '/min', 0, { valueQuantity: { value: 72, system: 'http://example.org/units', code: '/min' } })),
    ).toBe(true);
    expect(
      reachesBot(
        vital('8867-4', 72, '/min', 0, {
          code: {
            coding: [
              { system: 'http://loinc.org', code: '8867-4' },
              { system: 'http://loinc.org', code: '59408-5' },
            ],
          },
        }),
      ),
    ).toBe(true);
    expect(
      reachesBot(
        vital('8867-4', 72, '/min', 0, {
          valueQuantity: undefined,
          valueSampledData: {
            origin: { value: 0, code: '/min', system: 'http://unitsofmeasure.org' },
            period: 1000,
            dimensions: 1,
            data: '70 71',
          },
        }),
      ),
    ).toBe(true);
    expect(reachesBot(hr(72, 0))).toBe(false);
    expect(reachesBot({ ...hr(130, 0), device: undefined })).toBe(false);
  });

  test('trends that can end at a quiet reading are the sweep’s; a 4-point SpO2 fall cannot end above 96 %', () => {
    expect(SWEEP_TRENDS.map((t) => t.code).sort()).toEqual(['hr-rising', 'rr-rising', 'sbp-falling']);
    const spo2Falling = DEFAULT_TRENDS.find((t) => t.code === 'spo2-falling');
    expect(spo2Falling && trendCanEndQuiet(spo2Falling)).toBe(false);
    const a = assessVitals([spo2(100, 0), spo2(97, 5)]);
    expect(a.findings).toEqual([]);
  });
});
