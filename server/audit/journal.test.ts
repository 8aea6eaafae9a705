import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AuditJournal, orphanSegments, ownerAlive, readSegment } from './journal.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'es-journal-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const facts = (i: number) => JSON.stringify({ interaction: 'read', status: 200, what: [`Patient/p${i}`] });

describe('AuditJournal', () => {
  test('appended records read back in order, each ending at the position append returned', () => {
    const journal = new AuditJournal(dir, { syncIntervalMs: 0 });
    const first = journal.append(true, facts(1));
    const second = journal.append(false, '{"resourceType":"AuditEvent"}');
    expect(second.segment).toBe(first.segment);
    expect(second.end).toBeGreaterThan(first.end);
    const path = join(dir, first.segment);
    expect(readSegment(path, 0)).toEqual({
      records: [
        { rest: true, content: facts(1) },
        { rest: false, content: '{"resourceType":"AuditEvent"}' },
      ],
      end: second.end,
      damaged: 0,
    });
    // From a committed mark: only what follows it.
    expect(readSegment(path, first.end).records).toEqual([{ rest: false, content: '{"resourceType":"AuditEvent"}' }]);
    journal.close();
  });

  test('a full segment is sealed: complete at its final length, and the next record starts a new one', () => {
    const journal = new AuditJournal(dir, { segmentBytes: 100, syncIntervalMs: 0 });
    // Each record is 58 bytes: the second fills a segment.
    const positions = Array.from({ length: 4 }, (_, i) => journal.append(true, facts(i)));
    const [a, b, c, d] = positions;
    expect(b.segment).toBe(a.segment);
    expect(d.segment).toBe(c.segment);
    expect(c.segment).not.toBe(a.segment);
    expect(journal.isComplete(a.segment, b.end)).toBe(true);
    expect(journal.isComplete(a.segment, a.end)).toBe(false);
    expect(journal.isComplete(journal.segments()[2].segment, 0)).toBe(false);
    expect(journal.segments()).toEqual([
      { segment: a.segment, end: b.end },
      { segment: c.segment, end: d.end },
      { segment: expect.not.stringMatching(`^(${a.segment}|${c.segment})$`), end: 0 },
    ]);
    const sealed = a;
    journal.remove(sealed.segment);
    expect(readdirSync(dir)).not.toContain(sealed.segment);
    journal.close();
  });

  test('a line cut short by a crash is left out, a damaged one counted and skipped', () => {
    const path = join(dir, 'deadbeef0000-999999999-1-abcdef.0.jnl');
    writeFileSync(path, `r${facts(1)}\nnot a record\nr[1,2]\ne${facts(2)}\n`);
    appendFileSync(path, `r{"interaction":"re`);
    const read = readSegment(path, 0);
    expect(read.records.map((r) => r.content)).toEqual([facts(1), facts(2)]);
    expect(read.damaged).toBe(2);
    expect(read.end).toBe(readFileSync(path).lastIndexOf('\n') + 1);
  });

  test('segments are orphans only when their writing process is gone', () => {
    const journal = new AuditJournal(dir, { syncIntervalMs: 0 });
    const own = journal.append(true, facts(1)).segment;
    const [boot, pid, ticks, random] = own.split('.')[0].split('-');
    expect(Number(pid)).toBe(process.pid);
    expect(ownerAlive(own)).toBe(true);
    // Another boot of this machine, a reused pid (other start time), a pid that does not run.
    const otherBoot = `${'0'.repeat(12)}-${pid}-${ticks}-${random}.0.jnl`;
    const reusedPid = `${boot}-${pid}-${Number(ticks) + 1}-${random}.0.jnl`;
    const noProcess = `${boot}-999999999-${ticks}-${random}.0.jnl`;
    for (const name of [otherBoot, reusedPid, noProcess]) writeFileSync(join(dir, name), '');
    writeFileSync(join(dir, 'notes.txt'), '');
    expect(orphanSegments(dir)).toEqual([otherBoot, reusedPid, noProcess].sort());
    expect(orphanSegments(join(dir, 'missing'))).toEqual([]);
    journal.close();
  });
});
