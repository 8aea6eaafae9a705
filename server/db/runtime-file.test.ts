import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { removeRuntimeFile, runningServer, runtimeFilePath, writeRuntimeFile } from './runtime-file.ts';

const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'es-runtime-'));
  dirs.push(dir);
  return join(dir, 'postgres');
};

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test('a live server is found; a removed or missing file finds none', () => {
  const dir = dataDir();
  expect(runningServer(dir)).toBeUndefined();
  writeRuntimeFile(dir, 'postgres://x@127.0.0.1:5555/postgres');
  expect(runningServer(dir)).toEqual({ databaseUrl: 'postgres://x@127.0.0.1:5555/postgres', pid: process.pid });
  removeRuntimeFile(dir);
  expect(runningServer(dir)).toBeUndefined();
});

test('a file left by a server that died is not trusted', () => {
  const dir = dataDir();
  // A pid far above any the kernel hands out.
  writeFileSync(runtimeFilePath(dir), JSON.stringify({ databaseUrl: 'postgres://gone', pid: 2 ** 30 }));
  expect(runningServer(dir)).toBeUndefined();
});
