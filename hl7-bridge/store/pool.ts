import pg from 'pg';

/**
 * A connection pool for the bridge's store. Commits are synchronous (the PostgreSQL default):
 * an ACK promises the sender that the message survives a crash of the database machine too.
 */
export function createStorePool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000, application_name: 'emergisphere-hl7-bridge' });
  // A connection cut while idle or between queries must not crash the bridge; the next query fails instead.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}
