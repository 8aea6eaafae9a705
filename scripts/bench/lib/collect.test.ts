import { expect, test } from 'vitest';
import { figuresOf, parseTables } from './collect.ts';
import { formatTable } from './table.ts';

const checks = `[10:00:01] warming up
\u001b[32m
### Detail

| Phase | p50 |
|-------|----:|
| read  | 1.2 |

### Targets

${formatTable(
  ['Metric', 'Target', 'Measured', 'Result', 'Note'],
  [
    ['read p95', '< 10 ms', '3.1 ms', 'PASS', ''],
    ['create rate', '≥ 1,000/s', '800/s', 'FAIL', '2 cores'],
    ['RSS', '', '120 MB', 'info', ''],
  ],
)}
`;

test('reads the tables a benchmark printed', () => {
  const tables = parseTables(checks);
  expect(tables.map((t) => t.title)).toEqual(['Detail', 'Targets']);
  expect(tables[1].rows).toHaveLength(3);
  expect(tables[0].rows[0]).toEqual(['read', '1.2']);
});

test('the check table becomes figures with their result', () => {
  expect(figuresOf('fhir', checks)).toEqual([
    { bench: 'fhir', figure: 'read p95', target: '< 10 ms', measured: '3.1 ms', result: 'PASS' },
    { bench: 'fhir', figure: 'create rate', target: '≥ 1,000/s', measured: '800/s (2 cores)', result: 'FAIL' },
    { bench: 'fhir', figure: 'RSS', target: '', measured: '120 MB', result: 'info' },
  ]);
});

test('a benchmark without checks contributes its first table and its Metric/Value tables as information', () => {
  const out = `\n### Matching\n\n${formatTable(['Metric', 'Value'], [['precision', '100 %']])}\n\n### Other\n\n${formatTable(['a', 'b', 'c'], [['x', '1', '2']])}\n`;
  expect(figuresOf('mpi', out)).toEqual([{ bench: 'mpi', figure: 'precision', target: '', measured: '100 %', result: 'info' }]);
  const scale = `\n### Load\n\n${formatTable(['Setup', 'OK'], [['1 instance', '882']])}\n\n### Failover\n\n${formatTable(['Metric', 'Value'], [['gap', '98 ms']])}\n`;
  expect(figuresOf('scale', scale).map((f) => `${f.figure}: ${f.measured}`)).toEqual(['1 instance: 882', 'gap: 98 ms']);
  const wide = `\n### Cost\n\n${formatTable(['step', 'events', 'wall'], [['record', '5000', '1.0 s']])}\n`;
  expect(figuresOf('audit', wide)[0].measured).toBe('events 5000, wall 1.0 s');
  expect(figuresOf('x', 'no tables here')).toEqual([]);
});
