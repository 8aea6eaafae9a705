import pg from 'pg';

// Return int8 / numeric as strings would leak into FHIR JSON; counts are small enough for numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export interface PoolOptions {
  /**
   * Commit without waiting for the WAL flush (synchronous_commit=off), for connections whose
   * writes need no durability of their own: NOTIFYs, and audit rows (server/audit/audit-log.ts).
   */
  asyncCommit?: boolean;
  /**
   * Run every named prepared statement with its generic plan (plan_cache_mode=force_generic_plan),
   * for the search pool (server/fhir/search/statements.ts).
   */
  genericPlans?: boolean;
}

function sessionOptions(options: PoolOptions): string | undefined {
  const settings = [
    ...(options.asyncCommit ? ['-c synchronous_commit=off'] : []),
    ...(options.genericPlans ? ['-c plan_cache_mode=force_generic_plan'] : []),
  ];
  return settings.length ? settings.join(' ') : undefined;
}

export function createPool(connectionString: string, max: number, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    options: sessionOptions(options),
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
