import pg from 'pg';

// Return int8 / numeric as strings would leak into FHIR JSON; counts are small enough for numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export interface PoolOptions {
  /**
   * Commit without waiting for the WAL flush (synchronous_commit=off), for connections whose
   * writes need no durability of their own: NOTIFYs, and audit rows (server/audit/audit-log.ts).
   */
  asyncCommit?: boolean;
}

export function createPool(connectionString: string, max: number, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    ...(options.asyncCommit ? { options: '-c synchronous_commit=off' } : {}),
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => undefined);
  // pg-pool removes its error listener while a client is checked out; a connection cut between
  // two queries of a transaction would then be an uncaught exception that kills the server. The
  // next query on that client fails with the error instead, which the caller handles.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}
