import { readDelimiters } from './delimiters.ts';
import { Hl7ParseError, Message, type Segment } from './message.ts';

/**
 * HL7 batch protocol: `[FHS] { [BHS] { MSH … } [BTS] } [FTS]`. Headers and trailers are optional,
 * so several messages simply following each other are a batch too (that is how the bridge hands
 * many stored messages to the hl7-inbound bot in one `$execute`).
 */
export interface Batch {
  /** FHS and BHS, when present (parsed with their own delimiters). */
  fileHeader?: Segment;
  batchHeader?: Segment;
  /** The text of each message, in order, with its original segment terminators. */
  messages: string[];
  /** BTS-1 / FTS-1 counts when given (for checking). */
  declaredCount?: number;
}

const LINE = /[^\r\n]*(\r\n|\r|\n|$)/g;

function headerSegment(line: string): Segment {
  const m = Message.create(readDelimiters(line));
  const [name, ...rest] = line.split(line[3]);
  return m.addSegment(name, rest.slice(1));
}

/** True when the text is a batch rather than a single message (starts with FHS/BHS, or has several MSH). */
export function isBatch(text: string): boolean {
  if (text.startsWith('FHS') || text.startsWith('BHS')) return true;
  return /[\r\n]MSH/.test(text);
}

/**
 * Splits a batch (or a single message) into message texts. Segments before the first MSH other
 * than FHS/BHS, and segments after the last message other than BTS/FTS, are an error: they would
 * otherwise be silently dropped.
 */
export function splitBatch(text: string): Batch {
  const batch: Batch = { messages: [] };
  let current: string | undefined;
  let segmentNo = 0;
  for (const match of text.matchAll(LINE)) {
    const full = match[0];
    if (full === '') break;
    const line = full.replace(/[\r\n]+$/, '');
    if (line.trim() === '') {
      if (current !== undefined) current += full;
      continue;
    }
    segmentNo++;
    const name = line.slice(0, 3);
    if (name === 'MSH') {
      if (current !== undefined) batch.messages.push(current);
      current = full;
    } else if (name === 'FHS' || name === 'BHS') {
      if (current !== undefined) batch.messages.push(current);
      current = undefined;
      try {
        const seg = headerSegment(line);
        if (name === 'FHS') batch.fileHeader = seg;
        else batch.batchHeader = seg;
      } catch (err) {
        throw new Hl7ParseError(err instanceof Error ? err.message : String(err), '102', { segment: name, sequence: segmentNo, field: 2 });
      }
    } else if (name === 'BTS' || name === 'FTS') {
      if (current !== undefined) batch.messages.push(current);
      current = undefined;
      if (name === 'BTS') {
        const count = line.split(line[3] ?? '|')[1];
        if (count && /^\d+$/.test(count)) batch.declaredCount = Number(count);
      }
    } else if (current !== undefined) {
      current += full;
    } else {
      throw new Hl7ParseError(`Segment ${name} outside of any message in the batch`, '100', { segment: name, sequence: segmentNo });
    }
  }
  if (current !== undefined) batch.messages.push(current);
  return batch;
}
