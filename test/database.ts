import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Creates a fresh, empty database on the server of `adminUrl`; returns its URL and a dropper. */
export async function createScratchDatabase(adminUrl: string, prefix = 'es_test'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        // A pool's end() resolves before its sockets are closed: give them a moment, or FORCE
        // terminates them and the FATAL reaches a client whose pool no longer listens for errors.
        for (let i = 0; i < 20; i++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if (rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Lines of recorded batch rows mentioning $1, of kind $2 ('r', 'e') unless it is null. */
const RECORDED_MENTIONING = `SELECT count(*) FROM audit_record_batch b, regexp_split_to_table(b.records, E'\\n') AS line
     WHERE line LIKE '%' || $1 || '%' AND ($2::text IS NULL OR left(line, 1) = $2)`;

/** Records anywhere in the audit trail (recorded, or indexed as AuditEvents) whose text mentions `marker`. */
export async function auditRowsMentioning(db: pg.Pool | pg.Client, marker: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM audit_log WHERE content LIKE '%' || $1 || '%')
           + (SELECT count(*) FROM audit_rest_log WHERE record LIKE '%' || $1 || '%')
           + (${RECORDED_MENTIONING})
           + (SELECT count(*) FROM resource WHERE resource_type = 'AuditEvent' AND content LIKE '%' || $1 || '%'))::int AS n`,
    [marker, null],
  );
  return rows[0].n;
}

/**
 * Records in the batches not indexed yet (audit_record_batch: a row per batch, a record per line)
 * that mention `marker` and, when given, `kind` ('r': REST facts, 'e': an event's JSON).
 */
export async function recordedMentioning(db: pg.Pool | pg.Client, marker: string, kind?: 'r' | 'e'): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT (${RECORDED_MENTIONING})::int AS n`, [marker, kind ?? null]);
  return rows[0].n;
}
