import type pg from 'pg';
import type { Logger } from 'pino';

/** The tables every FHIR search reads: their row estimates decide its plan. */
const SEARCH_TABLES = ['resource', 'sp_token', 'sp_string', 'sp_date', 'sp_reference', 'sp_number', 'sp_quantity', 'sp_uri'];

export interface TableStatisticsOptions {
  /** Writes before the first refresh, and the least between two. */
  minGrowth?: number;
}

/**
 * Keeps PostgreSQL's planner statistics of the resource and search tables current while the
 * database is young. Autovacuum refreshes them only after 10 % of a table changed and at most once
 * a minute per database; a new database that fills quickly is searched with statistics taken when
 * it was nearly empty, and the planner, expecting one row everywhere, walks every row of a
 * parameter instead of probing a patient's few (bench:device's vital-sign window search: 23 ms at
 * 3,500 Observations and growing with every one). Here the statistics are refreshed each time the
 * number of resources written doubles: a handful of ANALYZEs while a database is small, then
 * nothing autovacuum would not do anyway. Counted per instance; another instance's writes only
 * make this one's refresh come later.
 */
export class TableStatistics {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly minGrowth: number;
  /** Resources in the table at the last refresh (its estimate); unknown until load(). */
  private known = 0;
  private written = 0;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(pool: pg.Pool, logger: Logger, options: TableStatisticsOptions = {}) {
    this.pool = pool;
    this.logger = logger;
    this.minGrowth = options.minGrowth ?? 1000;
  }

  /** Reads the current estimate, so a large database is not analysed again after 1,000 writes. */
  async load(): Promise<void> {
    this.known = await this.estimate();
  }

  /** Counts written resources; refreshes the statistics in the background when they doubled. */
  noteWrites(count = 1): void {
    this.written += count;
    if (!this.running && !this.closed && this.written >= Math.max(this.minGrowth, this.known)) {
      this.running = this.refresh().finally(() => {
        this.running = undefined;
      });
    }
  }

  /** The refresh under way, if any (tests, shutdown). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async refresh(): Promise<void> {
    this.written = 0;
    try {
      await this.pool.query(`ANALYZE ${SEARCH_TABLES.join(', ')}`);
      this.known = await this.estimate();
    } catch (err) {
      // Only the plans suffer; autovacuum will catch up.
      this.logger.warn({ err }, 'refreshing table statistics failed');
    }
  }

  private async estimate(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      "SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'resource'::regclass",
    );
    return rows[0]?.n ?? 0;
  }
}
