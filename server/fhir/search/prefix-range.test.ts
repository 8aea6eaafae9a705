import { expect, test } from 'vitest';
import { prefixRangeCondition, prefixUpperBound } from './prefix-range.ts';

test('the upper bound increments the last code point', () => {
  expect(prefixUpperBound('smi')).toBe('smj');
  expect(prefixUpperBound('a%')).toBe('a&');
  expect(prefixUpperBound('zü')).toBe('zý');
  // Astral code points are one character of the bound, not two UTF-16 units.
  expect(prefixUpperBound('x\u{1F600}')).toBe('x\u{1F601}');
});

test('the bound skips the surrogate range and carries past U+10FFFF', () => {
  expect(prefixUpperBound('a\uD7FF')).toBe('a\uE000');
  expect(prefixUpperBound('ab\u{10FFFF}')).toBe('ac');
  expect(prefixUpperBound('\u{10FFFF}\u{10FFFF}')).toBeUndefined();
  expect(prefixUpperBound('')).toBeUndefined();
  // A lone surrogate is stored and bound as U+FFFD.
  expect(Buffer.from(prefixUpperBound('a\uD800') as string, 'utf8')).toEqual(Buffer.from('a\uFFFE', 'utf8'));
});

test('every string with the prefix sorts inside [prefix, bound) in UTF-8 byte order, and others outside', () => {
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  const inRange = (value: string, prefix: string) => {
    const upper = prefixUpperBound(prefix);
    return Buffer.compare(bytes(value), bytes(prefix)) >= 0 && (upper === undefined || Buffer.compare(bytes(value), bytes(upper)) < 0);
  };
  const samples = [
    '',
    'a',
    'ab',
    'abc',
    'abd',
    'ab\u{10FFFF}z',
    'ac',
    'a_c',
    'a%',
    'a%b',
    'zü',
    'züa',
    'zý',
    'x\u{1F600}y',
    'x\u{1F601}',
    'a\uD7FFq',
    'a\uE000',
  ];
  for (const prefix of samples) {
    for (const value of samples) {
      expect(inRange(value, prefix), `${JSON.stringify(value)} vs prefix ${JSON.stringify(prefix)}`).toBe(value.startsWith(prefix));
    }
  }
});

test('the condition binds the prefix and the bound; no upper end when there is no bound', () => {
  const values: string[] = [];
  const bind = (v: string) => {
    values.push(v);
    return `$${values.length}`;
  };
  expect(prefixRangeCondition('x.value', 'smi', bind)).toBe('(x.value ~>=~ $1 AND x.value ~<~ $2)');
  expect(values).toEqual(['smi', 'smj']);
  expect(prefixRangeCondition('x.value', '\u{10FFFF}', bind)).toBe('x.value ~>=~ $3');
});
