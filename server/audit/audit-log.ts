import type { AuditEvent } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createPool } from '../db/pool.ts';
import { stampNew } from '../fhir/bulk-insert.ts';
import { directRowsTrusted, insertAuditEvents } from './event-index.ts';
import { type RestAuditFacts, restAuditEvent } from './events.ts';
import { type AuditJournal, type JournalPosition, recordLine, recordsOf } from './journal.ts';
import { recoverJournal, retireSegment } from './journal-db.ts';
import { recordBatch } from './record-batch.ts';

/** A small pool for audit writes only: asynchronous commit, so group commits are one round trip. */
export function createAuditPool(connectionString: string): pg.Pool {
  // One connection for recording, one for indexing, one spare so a long index batch never
  // holds up the recording of new events.
  return createPool(connectionString, 3, { asyncCommit: true });
}

/** Records queued for the database: those journaled in one turn of the event loop, or one that waits for its commit. */
interface Pending {
  /** The records as lines (recordLine): an event's JSON, or the facts of a REST event as JSON. */
  lines: string;
  count: number;
  prompt?: boolean;
  /** Where the journaled records end in their journal segment: the segment's mark once committed. */
  mark?: JournalPosition;
  /** Absent for journaled records: nobody waits for them, and a failed write is retried. */
  resolve?: () => void;
  reject?: (err: unknown) => void;
}

/** The records of the current turn of the event loop, journaled together at its end. */
interface JournalBatch {
  lines: string;
  count: number;
  prompt: boolean;
  /** Resolves once the records are journaled (or, if the journal failed, committed). */
  done: Promise<void>;
  resolve: (value?: void | PromiseLike<void>) => void;
}

export interface RecordOptions {
  /**
   * Write without waiting for the events of other requests under way (see expectEvent): a write's
   * own commit already cost more than an audit statement, and its answer should not wait longer.
   */
  prompt?: boolean;
}

export interface AuditLogOptions {
  /**
   * Index pending events in the background (every `indexIntervalMs`) while fewer than
   * `busyEventsPerSecond` events arrive; 0 turns background indexing off (reads still index first).
   */
  indexIntervalMs?: number;
  /** Above this recording rate the server is busy: background indexing waits (unless the backlog is large). */
  busyEventsPerSecond?: number;
  /** Pending events beyond which background indexing runs even while busy, so the backlog stays bounded. */
  maxBacklog?: number;
  /** How long a journaled record may wait for its batch (milliseconds): longer, larger batches. */
  flushMs?: number;
  /** How often segments left by stopped processes are looked for, in background ticks (0: only at start). */
  recoverEveryTicks?: number;
  /** How long a batch of waiting events may wait for the events of requests under way (expectEvent). */
  commitDelayMs?: number;
}

const MAX_BATCH = 500;

/** The newest recorded sequence number of each table (audit_log, audit_rest_log, audit_record_batch). */
interface Bounds {
  events: string | null;
  facts: string | null;
  batches: string | null;
}
/**
 * Journaled records waiting for a retry beyond which each failed attempt is logged as an error. They
 * are all kept: a later batch's mark must not pass a record that was never inserted.
 */
const MAX_BUFFERED_RETRY = 100_000;
/** Events indexed per transaction (one INSERT per table for all of them). */
const INDEX_BATCH = 1000;

/**
 * Takes a batch of recorded events. Those recorded with their compact index row (by the release
 * that computed it on the request path; $3: the rows are trusted, see DIRECT_FINGERPRINT) are
 * stored in the same statement. Returns the others, every event this release records, which
 * insertAuditEvents indexes in the same transaction.
 */
const TAKE_SQL = (skipLocked: boolean) =>
  `WITH taken AS (
     DELETE FROM audit_log WHERE seq IN (
       SELECT seq FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT $2 FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''})
     RETURNING content, CASE WHEN $3::boolean THEN index_row END AS index_row),
   r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
     SELECT 'AuditEvent', j->>'id', (j->'meta'->>'versionId')::uuid, (j->'meta'->>'lastUpdated')::timestamptz, false, content
     FROM (SELECT content, content::json AS j FROM taken WHERE index_row IS NOT NULL) x),
   a AS (INSERT INTO audit_event_index
     SELECT ir.* FROM taken, json_populate_record(NULL::audit_event_index, index_row::json) ir WHERE index_row IS NOT NULL)
   SELECT content, (SELECT count(*) FROM taken)::int AS taken FROM taken WHERE index_row IS NULL
   UNION ALL SELECT NULL, (SELECT count(*) FROM taken)::int`;

/** Takes a batch of recorded REST facts (recordRest), whose events are built here when indexed. */
const TAKE_REST_SQL = (skipLocked: boolean) =>
  `DELETE FROM audit_rest_log WHERE seq IN (
     SELECT seq FROM audit_rest_log WHERE seq <= $1 ORDER BY seq LIMIT $2 FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''})
   RETURNING record`;

/**
 * Takes the oldest recorded batches (audit_record_batch, what this release records) holding about
 * $2 records in all: a batch row holds what ~50 ms of requests recorded, from one to MAX_BATCH
 * records, and an index transaction costs about the same for ten events as for a thousand.
 */
const TAKE_BATCH_SQL = (skipLocked: boolean) =>
  `WITH oldest AS (
     SELECT seq, count, sum(count) OVER (ORDER BY seq) AS upto FROM audit_record_batch WHERE seq <= $1 ORDER BY seq LIMIT $2),
   locked AS (
     SELECT b.seq FROM audit_record_batch b JOIN oldest o ON o.seq = b.seq WHERE o.upto - o.count < $2
     FOR UPDATE OF b${skipLocked ? ' SKIP LOCKED' : ''})
   DELETE FROM audit_record_batch WHERE seq IN (SELECT seq FROM locked) RETURNING records`;

/** The AuditEvent of recorded REST facts: stamped as of the request, as record() would have. */
function restEventFromFacts(record: string): AuditEvent & { id: string } {
  const facts = JSON.parse(record) as RestAuditFacts;
  const event = stampNew(restAuditEvent(facts));
  return { ...event, meta: { ...event.meta, lastUpdated: facts.recorded } };
}

/**
 * The audit trail in two steps.
 *
 * Recording (request path), with the audit journal (setJournal, the server's default): each
 * record is appended to a local journal file (journal.ts) and the request is answered at once.
 * The record is in the kernel when the answer leaves, so the process dying right after answering
 * loses nothing: the next start (or another instance, see recoverJournal) inserts what was not
 * committed. Records reach the database in batches every `flushMs` (50 ms), one statement per
 * batch that also moves the segment's committed mark, so the database commits once per batch
 * instead of once per few requests. A failed batch is retried; a clean shutdown (`close()`) writes
 * every record and deletes the journal's files.
 *
 * Without a journal (AUDIT_JOURNAL_DIR=off, or a journal that could not be written): each
 * `record()` resolves only once its event is committed, and callers answer after that. Batches
 * then wait for the events of audited requests under way (group commit, see expectEvent).
 *
 * Either way a batch is stored as one row of text (audit_record_batch), a line per record: a REST
 * event as its facts (recordRest), any other as its JSON, instead of each event paying for a full
 * resource write with its history and search index, or even for a row of its own. The records of
 * one turn of the event loop are journaled with one write, and queued as one entry.
 *
 * Indexing: recorded batches (and the `audit_log` and `audit_rest_log` rows of earlier releases) become AuditEvent resources (searchable, readable through the FHIR
 * API like any other; stored compactly, see event-index.ts) in batches of a thousand, in one
 * transaction that also deletes the rows, so every event is indexed exactly once. This runs when the server is idle, when the
 * backlog grows large, and always before any read or search of AuditEvents (`indexPending`, which
 * first writes this instance's pending records), so a reader sees every event recorded before its request.
 */
export class AuditLog {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly options: Required<AuditLogOptions>;
  private queue: Pending[] = [];
  /** Records in `queue` (an entry holds one or more). */
  private queuedRecords = 0;
  private flushing = false;
  /** Callers of drain() under way: the flush loop then writes everything queued. */
  private draining = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Records of this turn of the event loop, journaled together at its end (writeJournal). */
  private toJournal: JournalBatch | undefined;
  /** Pending flush of journaled records. */
  private flushTimer: NodeJS.Timeout | undefined;
  private journal: AuditJournal | undefined;
  /** Set when an append failed: records then wait for their commit, as without a journal. */
  private journalFailed = false;
  /** Background ticks until the next look for segments of stopped processes. */
  private ticksToRecovery = 0;
  /** The running flush loop, so others can wait for it. */
  private flushRun: Promise<void> | undefined;
  private indexing: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  /** Events recorded since the last background tick, and since the last completed indexing. */
  private recentlyRecorded = 0;
  /** Audited requests under way whose events are not recorded yet (expectEvent). */
  private expected = 0;
  /** Ends the current wait for expected events (gather). */
  private gathered: (() => void) | undefined;
  /** Starts at 1 so the first idle tick picks up whatever an earlier run left pending. */
  private unindexed = 1;

  constructor(pool: pg.Pool, logger: Logger, options: AuditLogOptions = {}) {
    this.pool = pool;
    this.logger = logger;
    this.options = {
      indexIntervalMs: 1000,
      busyEventsPerSecond: 50,
      maxBacklog: 50_000,
      flushMs: 50,
      commitDelayMs: 2,
      recoverEveryTicks: 60,
      ...options,
    };
    if (this.options.indexIntervalMs > 0) {
      this.timer = setInterval(() => this.backgroundTick(), this.options.indexIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Records into `journal` from now on, after inserting what stopped processes left in its folder.
   * Call before the server takes requests.
   */
  async setJournal(journal: AuditJournal): Promise<void> {
    await recoverJournal(this.pool, journal.dir, this.logger);
    this.journal = journal;
    this.ticksToRecovery = this.options.recoverEveryTicks;
  }

  record(event: AuditEvent, options: RecordOptions = {}): Promise<void> {
    // Only the event's JSON is written now. Its compact index row is computed when the event is
    // indexed (insertAuditEvents), off the request path: that is most of an event's CPU.
    return this.enqueue(JSON.stringify(stampNew(event)), false, options);
  }

  /**
   * Records a FHIR REST request's event by its facts only (a few hundred bytes instead of the
   * event's JSON); the AuditEvent, the same restAuditEvent builds, is made when it is indexed.
   */
  recordRest(facts: RestAuditFacts, options: RecordOptions = {}): Promise<void> {
    return this.enqueue(JSON.stringify(facts.recorded ? facts : { ...facts, recorded: new Date().toISOString() }), true, options);
  }

  private enqueue(content: string, rest: boolean, options: RecordOptions): Promise<void> {
    if (this.closed) {
      return Promise.reject(new Error('Audit log closed'));
    }
    const line = recordLine(rest, content);
    if (!this.journal || this.journalFailed) {
      return this.enqueueWaiting(line, 1, options.prompt === true);
    }
    // Journaled with the other records of this turn of the event loop, in one write.
    let batch = this.toJournal;
    if (!batch) {
      const { promise, resolve } = Promise.withResolvers<void>();
      batch = { lines: '', count: 0, prompt: false, done: promise, resolve };
      this.toJournal = batch;
      setImmediate(() => this.writeJournal());
    }
    batch.lines += line;
    batch.count++;
    batch.prompt ||= options.prompt === true;
    return batch.done;
  }

  /**
   * Journals the records of the current turn (one write), then queues them for their batch. When
   * the journal cannot be written, they wait for their commit instead, as without a journal.
   */
  private writeJournal(): void {
    const batch = this.toJournal;
    if (!batch) {
      return;
    }
    this.toJournal = undefined;
    const mark = this.append(batch.lines);
    if (!mark) {
      batch.resolve(this.enqueueWaiting(batch.lines, batch.count, batch.prompt));
      return;
    }
    this.push({ lines: batch.lines, count: batch.count, mark });
    if (this.queuedRecords >= MAX_BATCH) {
      this.startFlush();
    } else if (!this.flushing && !this.flushTimer) {
      this.flushTimer = setTimeout(() => this.startFlush(), this.options.flushMs);
    }
    batch.resolve();
  }

  /** Records answered only once committed (no journal, or a journal that failed). */
  private enqueueWaiting(lines: string, count: number, prompt: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.push({ lines, count, prompt, resolve, reject });
      if (this.queuedRecords >= MAX_BATCH || prompt) {
        this.gathered?.();
      }
      this.startFlush();
    });
  }

  private push(pending: Pending): void {
    this.queue.push(pending);
    this.queuedRecords += pending.count;
  }

  /** Journals records; undefined when there is no journal (or it failed: the callers then wait for the commit). */
  private append(lines: string): JournalPosition | undefined {
    if (!this.journal || this.journalFailed) {
      return undefined;
    }
    try {
      return this.journal.appendLines(lines);
    } catch (err) {
      this.journalFailed = true;
      this.logger.error({ err, dir: this.journal.dir }, 'audit journal cannot be written: audited requests now wait for their commit');
      return undefined;
    }
  }

  /**
   * An audited request has started: its event will be recorded when it answers. While such
   * requests are under way, a batch of waiting events waits for them (at most `commitDelayMs`), so
   * concurrent requests share one statement and one commit instead of each paying for its own
   * round trip; with none under way (a lone request, a quiet server) a batch is written at once.
   */
  expectEvent(): void {
    this.expected++;
  }

  /** The started request's event was recorded (or will never be: the request was aborted). */
  eventSettled(): void {
    if (this.expected > 0) {
      this.expected--;
    }
    if (this.expected === 0) {
      this.gathered?.();
    }
  }

  /** Resolves when no expected event is still to come, or after `commitDelayMs`. */
  private gather(): Promise<void> | undefined {
    if (
      this.expected === 0 ||
      this.closed ||
      this.queuedRecords >= MAX_BATCH ||
      this.queue.some((p) => p.prompt) ||
      !this.queue.some((p) => p.resolve)
    ) {
      return undefined;
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.options.commitDelayMs);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.gathered = undefined;
        resolve();
      }
      this.gathered = done;
    });
  }

  private startFlush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (!this.flushing) {
      this.flushRun = this.flush();
    }
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      for (let first = true; this.queue.length > 0; first = false) {
        if (!first && !this.flushNow()) {
          // Journaled records only, fewer than a batch: they wait for the next tick with those that
          // follow, instead of going out a few at a time whenever the previous insert returns.
          this.flushTimer ??= setTimeout(() => this.startFlush(), this.options.flushMs);
          return;
        }
        await this.gather();
        const batch = this.queue.splice(0, this.batchLength());
        const count = batch.reduce((n, p) => n + p.count, 0);
        this.queuedRecords -= count;
        try {
          const mark = await this.insert(batch, count);
          this.recentlyRecorded += count;
          this.unindexed += count;
          for (const p of batch) p.resolve?.();
          if (mark && this.journal?.isComplete(mark.segment, mark.end)) {
            await retireSegment(this.pool, this.journal, mark.segment).catch((err) =>
              this.logger.warn({ err, segment: mark.segment }, 'audit journal: a committed segment was not deleted; the next start does'),
            );
          }
        } catch (err) {
          this.logger.error({ err, events: count }, 'audit write failed');
          for (const p of batch) p.reject?.(err);
          // Nobody waits for a journaled record: keep it for the next attempt instead of losing it.
          const retry = batch.filter((p) => !p.resolve);
          if (retry.length > 0) {
            this.requeue(retry);
            return;
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Whether the queue goes out now: someone waits for its commit (no journal), it holds a full
   * batch, or everything is being written (drain, close).
   */
  private flushNow(): boolean {
    return this.draining > 0 || this.closed || this.queuedRecords >= MAX_BATCH || this.queue.some((p) => p.resolve);
  }

  /**
   * How many queued entries the next batch takes: records up to MAX_BATCH (at least one entry),
   * and journaled records of one segment only, since a statement moves one segment's mark.
   */
  private batchLength(): number {
    let segment: string | undefined;
    let n = 0;
    let records = 0;
    for (const p of this.queue) {
      if ((n > 0 && records + p.count > MAX_BATCH) || (p.mark && segment !== undefined && p.mark.segment !== segment)) break;
      segment = p.mark?.segment ?? segment;
      records += p.count;
      n++;
    }
    return n;
  }

  /** Puts journaled records that failed back in front, retried after a pause (not in a tight loop). */
  private requeue(events: Pending[]): void {
    this.queue.unshift(...events);
    this.queuedRecords += events.reduce((n, p) => n + p.count, 0);
    if (this.queuedRecords > MAX_BUFFERED_RETRY) {
      // Kept all the same: the segment's mark must not pass a record that was never inserted.
      this.logger.error({ events: this.queuedRecords }, 'audit records waiting: the database refuses writes');
    }
    if (!this.closed && !this.flushTimer) {
      this.flushTimer = setTimeout(() => this.startFlush(), Math.max(100, this.options.flushMs));
    }
  }

  /** Writes everything queued so far (journaled records included); resolves when none is left. */
  private async drain(): Promise<void> {
    this.writeJournal();
    this.draining++;
    try {
      for (let attempt = 0; this.flushing || this.queue.length > 0; attempt++) {
        if (!this.flushing) {
          this.startFlush();
        }
        await this.flushRun;
        if (attempt > 0 && this.queue.length > 0 && !this.flushing) {
          // The database refused the batch twice: leave the events for the retry timer.
          return;
        }
      }
    } finally {
      this.draining--;
    }
  }

  /**
   * One statement per batch, on connections whose commits are asynchronous (see createAuditPool):
   * the events are in PostgreSQL (and survive our process dying) when it returns, without waiting
   * for the WAL flush to disk. Only a crash of the database machine itself within its WAL writer
   * delay could lose the newest events. Returns the journal mark the batch committed, if any.
   */
  private async insert(batch: Pending[], count: number): Promise<JournalPosition | undefined> {
    let mark: JournalPosition | undefined;
    for (const p of batch) mark = p.mark ?? mark;
    await recordBatch(this.pool, batch.length === 1 ? batch[0].lines : batch.map((p) => p.lines).join(''), count, mark);
    return mark;
  }

  /**
   * Makes every event committed so far (by any instance) a searchable AuditEvent. Waits for
   * batches other instances are indexing at the same moment, so nothing committed before the
   * call is missed. Resolves at once when there is nothing pending.
   */
  async indexPending(): Promise<void> {
    // This instance's journaled records first, so a reader sees its own reads and searches.
    await this.drain();
    const { rows } = await this.pool.query<Bounds>(
      `SELECT (SELECT max(seq) FROM audit_log)::text AS events, (SELECT max(seq) FROM audit_rest_log)::text AS facts,
         (SELECT max(seq) FROM audit_record_batch)::text AS batches`,
    );
    const { events, facts, batches } = rows[0];
    if (events === null && facts === null && batches === null) {
      return;
    }
    await this.indexUpTo({ events: events ?? '0', facts: facts ?? '0', batches: batches ?? '0' }, false);
  }

  /** Indexes pending events with seq ≤ `upTo` (per table), a batch per transaction; returns how many. */
  private async indexUpTo(upTo: Bounds, skipLocked: boolean, maxBatches = Number.POSITIVE_INFINITY): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const { taken, full } = await this.indexBatch(upTo, skipLocked);
      total += taken;
      if (!full) {
        // Drained: whatever this instance recorded is indexed (here or by another instance).
        this.unindexed = 0;
        return total;
      }
    }
    this.unindexed = Math.max(0, this.unindexed - total);
    return total;
  }

  private async indexBatch(upTo: Bounds, skipLocked: boolean): Promise<{ taken: number; full: boolean }> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ content: string | null; taken: number }>(TAKE_SQL(skipLocked), [
        upTo.events,
        INDEX_BATCH,
        directRowsTrusted(),
      ]);
      const { rows: facts } = await client.query<{ record: string }>(TAKE_REST_SQL(skipLocked), [upTo.facts, INDEX_BATCH]);
      const { rows: batches } = await client.query<{ records: string }>(TAKE_BATCH_SQL(skipLocked), [upTo.batches, INDEX_BATCH]);
      const recorded = batches.flatMap((b) => recordsOf(b.records));
      // The stored text of an event is its JSON as recorded: parsed for its index rows, stored as is.
      const eventTexts = [
        ...rows.flatMap((r) => (r.content === null ? [] : [r.content])),
        ...recorded.filter((r) => !r.rest).map((r) => r.content),
      ];
      const restEvents = [...facts.map((f) => f.record), ...recorded.filter((r) => r.rest).map((r) => r.content)].map(restEventFromFacts);
      const events = [...eventTexts.map((t) => JSON.parse(t)), ...restEvents];
      const texts = [...eventTexts, ...restEvents.map((e) => JSON.stringify(e))];
      if (events.length > 0) {
        await insertAuditEvents(client, events, texts);
      }
      await client.query('COMMIT');
      const taken = rows[0]?.taken ?? 0;
      return {
        taken: taken + facts.length + recorded.length,
        // Batches: until a transaction finds none (one may hold fewer than INDEX_BATCH records, or
        // another instance may have taken some of the oldest while this one waited for them).
        full: taken >= INDEX_BATCH || facts.length >= INDEX_BATCH || batches.length > 0,
      };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private backgroundTick(): void {
    this.recoverNow();
    const recent = this.recentlyRecorded;
    this.recentlyRecorded = 0;
    if (this.indexing || this.closed || this.unindexed === 0) {
      return;
    }
    const perSecond = (recent * 1000) / this.options.indexIntervalMs;
    if (perSecond > this.options.busyEventsPerSecond && this.unindexed < this.options.maxBacklog) {
      return;
    }
    const all = String(Number.MAX_SAFE_INTEGER);
    this.indexing = this.indexUpTo({ events: all, facts: all, batches: all }, true, 10)
      .then(() => undefined)
      .catch((err) => this.logger.warn({ err }, 'audit indexing failed; retried later'))
      .finally(() => {
        this.indexing = undefined;
      });
  }

  /**
   * Every `recoverEveryTicks` background ticks, inserts what processes that stopped (on this
   * machine, sharing the journal folder) left uncommitted, so it does not wait for their restart.
   */
  private recoverNow(): void {
    const journal = this.journal;
    if (!journal || this.recovering || this.options.recoverEveryTicks <= 0 || --this.ticksToRecovery > 0) {
      return;
    }
    this.ticksToRecovery = this.options.recoverEveryTicks;
    this.recovering = recoverJournal(this.pool, journal.dir, this.logger)
      .then(() => undefined)
      .catch((err) => this.logger.warn({ err }, 'audit journal recovery failed; retried later'))
      .finally(() => {
        this.recovering = undefined;
      });
  }

  /** Writes every queued and journaled record, then deletes the journal's files; further records are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.drain();
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    await this.recovering;
    const journal = this.journal;
    if (this.queue.length > 0) {
      this.logger.error(
        { events: this.queuedRecords, journal: journal?.dir },
        journal
          ? 'audit records not written at shutdown: the database refused them; the next start inserts them from the journal'
          : 'audit events not written at shutdown: the database refused them',
      );
    } else if (journal) {
      for (const { segment } of journal.segments()) {
        await retireSegment(this.pool, journal, segment).catch((err) =>
          this.logger.warn({ err, segment }, 'audit journal: a committed segment was not deleted; the next start does'),
        );
      }
    }
    journal?.close();
    await this.indexing;
  }
}
