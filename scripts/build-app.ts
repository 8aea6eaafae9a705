/**
 * Builds the clinician app (app/ → app/dist) when the build is missing or older than its sources.
 * `npm start` runs it first, so `npm install && npm start` serves the app on a fresh machine.
 * `--force` rebuilds regardless.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const APP_DIR = resolve(import.meta.dirname, '..', 'app');

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** True when app/dist/index.html is missing or older than any source of the app. */
export function appBuildStale(appDir = APP_DIR): boolean {
  const index = join(appDir, 'dist', 'index.html');
  if (!existsSync(index)) return true;
  const sources = [join(appDir, 'src'), join(appDir, 'index.html'), join(appDir, 'vite.config.ts')].filter(existsSync);
  return Math.max(...sources.map(newestMtime)) > statSync(index).mtimeMs;
}

/** Runs Vite's production build of the app (quietly unless `verbose`). */
export async function buildApp(options: { force?: boolean; verbose?: boolean } = {}): Promise<boolean> {
  if (!options.force && !appBuildStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: join(APP_DIR, 'vite.config.ts'), root: APP_DIR, logLevel: options.verbose ? 'info' : 'warn' });
  return true;
}

if (import.meta.main) {
  const force = process.argv.includes('--force');
  const started = Date.now();
  const built = await buildApp({ force, verbose: true });
  console.log(built ? `app built into app/dist in ${Date.now() - started} ms` : 'app/dist is up to date');
}
