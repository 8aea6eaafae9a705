import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { missingNodeFlags, SERVER_NODE_FLAGS } from './node-flags.ts';

test('npm start runs the server with every flag it needs', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  const start = pkg.scripts.start;
  const node = /\bnode ((?:--\S+ )*)server\/index\.ts/.exec(start);
  expect(node, start).not.toBeNull();
  expect(missingNodeFlags((node?.[1] ?? '').trim().split(' '))).toEqual([]);
});

test('names the flags a process was started without', () => {
  expect(SERVER_NODE_FLAGS).toContain('--no-memory-reducer');
  expect(missingNodeFlags([])).toEqual([...SERVER_NODE_FLAGS]);
  expect(missingNodeFlags(['--enable-source-maps', ...SERVER_NODE_FLAGS])).toEqual([]);
});
