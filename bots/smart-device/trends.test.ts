import { expect, test } from 'vitest';
import { at, hr, spo2, spo2Series } from './test-helpers.ts';
import { detectTrends } from './trends.ts';
import { extractSamples } from './vitals.ts';

const samplesOf = (...obs: Parameters<typeof extractSamples>[0]) => extractSamples(obs).samples;

test('SpO2 falling 4 points within 10 minutes is critical', () => {
  const [f] = detectTrends(samplesOf(spo2(97, 0), spo2(96, 4), spo2(94, 7), spo2(93, 9)));
  expect(f).toMatchObject({
    code: 'trend:spo2-falling',
    severity: 'critical',
    values: { from: 97, to: 93, change: 4, minutes: 9 },
    time: at(9),
  });
  expect(f.text).toBe('SpO2 falling: 97 → 93 (−4 in 9.0 min; rule ≥ 4 in 10 min)');
});

test('3 points, or 4 points over more than 10 minutes, is not', () => {
  expect(detectTrends(samplesOf(spo2(97, 0), spo2(94, 9)))).toEqual([]);
  expect(detectTrends(samplesOf(spo2(97, 0), spo2(95, 6), spo2(93, 12)))).toEqual([]);
});

test('recovery after a dip is not a fall: the latest value decides', () => {
  expect(detectTrends(samplesOf(spo2(97, 0), spo2(92, 3), spo2(97, 6)))).toEqual([]);
});

test('a high-frequency series counts too', () => {
  // 1 sample / 30 s over 8 minutes, drifting 98 → 93.
  const data = Array.from({ length: 17 }, (_, i) => Math.round(98 - (5 * i) / 16)).join(' ');
  const [f] = detectTrends(samplesOf(spo2Series(data, 0, 30_000)));
  expect(f).toMatchObject({ code: 'trend:spo2-falling', values: { from: 98, to: 93 } });
});

test('heart rate rising 30/min within 15 minutes warns', () => {
  const [f] = detectTrends(samplesOf(hr(82, 0), hr(95, 5), hr(113, 12)));
  expect(f).toMatchObject({ code: 'trend:hr-rising', severity: 'warning', values: { change: 31 } });
});

test('evaluated as of a given time', () => {
  const samples = samplesOf(spo2(97, 0), spo2(92, 5), spo2(97, 20));
  expect(detectTrends(samples, undefined, at(5)).map((f) => f.code)).toEqual(['trend:spo2-falling']);
  expect(detectTrends(samples, undefined, at(20))).toEqual([]);
});
