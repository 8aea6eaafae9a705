import { closeSync, fdatasync, fdatasyncSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The audit journal: a local append-only file that holds each audit record from the moment its
 * request is answered until the record's batch is committed in PostgreSQL (server/audit/audit-log.ts).
 *
 * Why: the audit trail must survive the server process stopping right after it answered, and the
 * answer used to wait for an audit INSERT to make that so. A write() to a file is in the kernel once
 * it returns, so it survives the process whatever happens to it next, for a few microseconds
 * instead of a database round trip; the database then takes the records in large batches. A crash
 * of the machine itself is covered as well as the audit pool's asynchronous commits cover it: the
 * journal is flushed to disk every `syncIntervalMs`, as PostgreSQL's WAL writer flushes those.
 *
 * Layout: `<root>/<database home id>/<owner>.<n>.jnl`, one line per record (`r` + the facts of a
 * REST event, or `e` + an event's JSON). The owner part names the process (boot id, pid, process
 * start time, a random tag), so instances on one machine can share a root: each writes only its
 * own segments and recovers only those of processes that are gone (see ownerAlive). A segment's
 * committed length is kept in `audit_journal_mark`, updated in the statement that records its
 * batch, so a recovery re-inserts exactly the records that were never committed.
 */

export interface JournalOptions {
  /** A new segment is started when the current one is larger than this. */
  segmentBytes?: number;
  /** How often written records are flushed to disk (fdatasync); 0 turns the flush off. */
  syncIntervalMs?: number;
}

export interface JournalPosition {
  segment: string;
  /** The segment's length after this record: the committed mark once its batch is in. */
  end: number;
}

export interface JournalRecord {
  rest: boolean;
  content: string;
}

interface Segment {
  name: string;
  fd: number;
  size: number;
}

/** A record as a line of the journal (and of a batch row, audit_record_batch): `r` + REST facts, `e` + an event's JSON. */
export function recordLine(rest: boolean, content: string): string {
  return `${rest ? 'r' : 'e'}${content}\n`;
}

/** The records of a batch row's text (recordLine's lines); JSON never holds a raw line break. */
export function recordsOf(text: string): JournalRecord[] {
  const records: JournalRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.length > 1) records.push({ rest: line[0] === 'r', content: line.slice(1) });
  }
  return records;
}

const SUFFIX = '.jnl';

export class AuditJournal {
  readonly dir: string;
  private readonly owner: string;
  private readonly options: Required<JournalOptions>;
  private current: Segment;
  private next = 0;
  /** Segments no longer written to, with their final length: removable once committed that far. */
  private readonly sealed = new Map<string, number>();
  private dirty = false;
  private syncing = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(dir: string, options: JournalOptions = {}) {
    this.dir = dir;
    this.options = { segmentBytes: 8 << 20, syncIntervalMs: 200, ...options };
    mkdirSync(dir, { recursive: true });
    this.owner = processTag();
    this.current = this.open();
    if (this.options.syncIntervalMs > 0) {
      this.timer = setInterval(() => this.sync(), this.options.syncIntervalMs);
      this.timer.unref();
    }
  }

  /** Appends a record; once this returns, the record survives this process. Throws when the file cannot be written. */
  append(rest: boolean, content: string): JournalPosition {
    return this.appendLines(recordLine(rest, content));
  }

  /**
   * Appends records (recordLine's lines) with one write; the position is the end of the last. Once
   * this returns, they survive this process. A write is a system call, and system calls are a
   * large part of a request's CPU here: the audit log gives the records of one turn of the event
   * loop together.
   */
  appendLines(lines: string): JournalPosition {
    const segment = this.current;
    const bytes = Buffer.from(lines);
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(segment.fd, bytes, written, bytes.length - written, segment.size + written);
    }
    segment.size += bytes.length;
    this.dirty = true;
    const position = { segment: segment.name, end: segment.size };
    if (segment.size >= this.options.segmentBytes) {
      this.sealed.set(segment.name, segment.size);
      // Its tail on disk now: the periodic flush only ever sees the open segment.
      if (this.options.syncIntervalMs > 0) fdatasyncSync(segment.fd);
      closeSync(segment.fd);
      this.current = this.open();
    }
    return position;
  }

  /** True when `segment` is sealed and `end` is its whole length: after that commit it can go. */
  isComplete(segment: string, end: number): boolean {
    return this.sealed.get(segment) === end;
  }

  /** Every segment of this journal (the open one included) and its length so far. */
  segments(): { segment: string; end: number }[] {
    return [...this.sealed].map(([segment, end]) => ({ segment, end })).concat({ segment: this.current.name, end: this.current.size });
  }

  /** Deletes a segment whose records are all committed. */
  remove(segment: string): void {
    this.sealed.delete(segment);
    if (segment === this.current.name && this.current.fd >= 0) {
      closeSync(this.current.fd);
      this.current.fd = -1;
    }
    unlinkSync(join(this.dir, segment));
  }

  /** Stops writing: later appends throw. Segments still on disk are recovered by the next start. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.current.fd >= 0) {
      closeSync(this.current.fd);
      this.current.fd = -1;
    }
  }

  private open(): Segment {
    const name = `${this.owner}.${this.next++}${SUFFIX}`;
    return { name, fd: openSync(join(this.dir, name), 'wx', 0o600), size: 0 };
  }

  private sync(): void {
    if (!this.dirty || this.syncing || this.current.fd < 0) return;
    this.dirty = false;
    this.syncing = true;
    // Off the main thread (libuv's pool); a failure only widens the machine-crash window.
    fdatasync(this.current.fd, () => {
      this.syncing = false;
    });
  }
}

/** Segments in `dir` whose writing process is gone: what a start (or a periodic check) recovers. */
export function orphanSegments(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const boot = bootId();
  return names.filter((n) => n.endsWith(SUFFIX) && !ownerAlive(n, boot)).sort();
}

/**
 * The complete records of a segment after `from` bytes, and the length they end at. A last line
 * without its newline was cut short by a crash while it was written: its request was never
 * answered, so it is left out. A line that is not an audit record (a damaged disk) is reported, not
 * inserted, so one bad line cannot block the indexing of every record after it.
 */
export function readSegment(path: string, from: number): { records: JournalRecord[]; end: number; damaged: number } {
  const data = readFileSync(path);
  const records: JournalRecord[] = [];
  let damaged = 0;
  let start = from;
  for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
    const line = data.toString('utf8', start, nl);
    start = nl + 1;
    const kind = line[0];
    const content = line.slice(1);
    if ((kind === 'r' || kind === 'e') && isJsonObject(content)) {
      records.push({ rest: kind === 'r', content });
    } else {
      damaged++;
    }
  }
  return { records, end: start, damaged };
}

function isJsonObject(text: string): boolean {
  try {
    const value = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * `<boot id>-<pid>-<start ticks>-<random>`: with the boot id and the process's start time a reused
 * pid is not mistaken for the writer; the random part tells apart servers in one process (tests).
 */
function processTag(): string {
  const random = Math.random().toString(36).slice(2, 8);
  return `${bootId()}-${process.pid}-${startTicks(process.pid) ?? 0}-${random}`;
}

/** Whether the process that wrote segment `name` is still running on this machine (of boot `current`). */
export function ownerAlive(name: string, current = bootId()): boolean {
  const [boot, pid, ticks] = name.split('.')[0].split('-');
  const pidNumber = Number(pid);
  if (!Number.isInteger(pidNumber) || pidNumber <= 0) return false;
  if (current !== 'noboot') {
    // Linux: the same boot and the same start time, or it is another process that got the pid.
    return boot === current && String(startTicks(pidNumber) ?? 'gone') === ticks;
  }
  try {
    process.kill(pidNumber, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '').slice(0, 12);
  } catch {
    return 'noboot';
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}
