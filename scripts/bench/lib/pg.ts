import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The local PostgreSQL server the benchmarks create their scratch databases on. */
export const ADMIN_URL = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Benchmarks only ever talk to this machine. */
export function assertLocal(url: string): void {
  const host = new URL(url).hostname;
  if (!LOCAL_HOSTS.has(host)) {
    throw new Error(`Refusing to benchmark against non-local host "${host}" (${url.replace(/:[^:@/]*@/, ':***@')})`);
  }
}

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

export function scratchName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

function checkName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`Unsafe database name "${name}"`);
  }
  return name;
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  assertLocal(adminUrl);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${checkName(name)}`));
  return databaseUrl(adminUrl, name);
}

/** BENCH_KEEP_DB=1 keeps the scratch databases, to EXPLAIN a benchmark's queries on its data afterwards. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (process.env.BENCH_KEEP_DB === '1') {
    process.stderr.write(`BENCH_KEEP_DB=1: kept database ${name}\n`);
    return;
  }
  await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${checkName(name)} WITH (FORCE)`));
}

export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  return withAdmin(adminUrl, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
}

/** Runs `fn` with one connection to `url`, always closing it. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  assertLocal(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
