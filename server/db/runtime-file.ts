/**
 * `data/runtime.json`: how a running `npm start` on the embedded PostgreSQL tells operator commands
 * (admin, subscriptions, backup, the HL7 bridge alone) where its database is. Written at start,
 * removed at a clean stop; a server killed without one leaves it behind, so readers trust it only
 * while its process is alive.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface RuntimeFile {
  databaseUrl?: string;
  pid?: number;
}

/** The file next to the embedded cluster's data directory. */
export function runtimeFilePath(dataDir: string): string {
  return join(dirname(dataDir), 'runtime.json');
}

export function writeRuntimeFile(dataDir: string, databaseUrl: string): void {
  writeFileSync(runtimeFilePath(dataDir), JSON.stringify({ databaseUrl, pid: process.pid } satisfies RuntimeFile), { mode: 0o600 });
}

export function removeRuntimeFile(dataDir: string): void {
  rmSync(runtimeFilePath(dataDir), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The database of the server running on `dataDir`'s embedded cluster, with its pid; undefined when none runs. */
export function runningServer(dataDir: string): { databaseUrl: string; pid: number } | undefined {
  const file = runtimeFilePath(dataDir);
  if (!existsSync(file)) return undefined;
  const runtime = JSON.parse(readFileSync(file, 'utf8')) as RuntimeFile;
  return runtime.databaseUrl && runtime.pid && isAlive(runtime.pid) ? { databaseUrl: runtime.databaseUrl, pid: runtime.pid } : undefined;
}
