import type { Profiler, Runtime } from 'node:inspector';
import { describe, expect, test } from 'vitest';
import { byFunction, callers, samples, select, timeline } from './cpu-profile.ts';

const frame = (functionName: string, line = 0): Runtime.CallFrame => ({
  functionName,
  scriptId: '1',
  url: `file:///srv/server/${functionName}.ts`,
  lineNumber: line,
  columnNumber: 0,
});

// root → handle → query → write; handle → parse; root → (garbage collector); root → (idle)
const profile: Profiler.Profile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('handle', 9), children: [3, 7] },
    { id: 3, callFrame: frame('query'), children: [4] },
    { id: 4, callFrame: frame('write') },
    { id: 5, callFrame: frame('(garbage collector)') },
    { id: 6, callFrame: frame('(idle)') },
    { id: 7, callFrame: frame('parse') },
  ],
  startTime: 0,
  endTime: 2_000_000,
  // Sample i lasts until sample i + 1 (the last one as long as the one before it).
  samples: [4, 4, 7, 5, 6, 4],
  timeDeltas: [0, 200_000, 200_000, 200_000, 400_000, 1_000_000],
};

describe('CPU profile summaries', () => {
  const all = samples(profile);

  test('each sample has its stack (leaf first, without the root), its time and its weight', () => {
    expect(all.map((s) => s.stack[0])).toEqual([
      'write server/write.ts:1',
      'write server/write.ts:1',
      'parse server/parse.ts:1',
      '(garbage collector) server/(garbage collector).ts:1',
      '(idle) server/(idle).ts:1',
      'write server/write.ts:1',
    ]);
    expect(all[0].stack).toEqual(['write server/write.ts:1', 'query server/query.ts:1', 'handle server/handle.ts:10']);
    expect(all.map((s) => s.at)).toEqual([0, 0.2, 0.4, 0.6, 1, 2]);
    expect(all.map((s) => s.ms)).toEqual([200, 200, 200, 400, 1000, 1000]);
  });

  test('self and total time by function leave idle out; a window and a function narrow them', () => {
    const self = byFunction(select(all), 'self');
    expect(Object.fromEntries(self)).toEqual({
      'write server/write.ts:1': 1400,
      'parse server/parse.ts:1': 200,
      '(garbage collector) server/(garbage collector).ts:1': 400,
    });
    expect(byFunction(select(all), 'total').get('handle server/handle.ts:10')).toBe(1600);
    expect(byFunction(select(all, { from: 0.3, to: 1.5 }), 'total').get('handle server/handle.ts:10')).toBe(200);
    const underQuery = byFunction(select(all, { under: 'query' }), 'total');
    expect(underQuery.get('query server/query.ts:1')).toBe(1400);
    expect(underQuery.has('handle server/handle.ts:10')).toBe(false);
  });

  test('the timeline counts busy time, garbage collection and a marked function per second', () => {
    expect(timeline(all, 'query')).toEqual([
      { second: 0, busy: 1000, gc: 400, marked: 400 },
      { second: 2, busy: 1000, gc: 0, marked: 1000 },
    ]);
  });

  test('callers lists the chains into a function', () => {
    expect(Object.fromEntries(callers(select(all), 'query', 1))).toEqual({ 'query server/query.ts:1 < handle server/handle.ts:10': 1400 });
  });
});
