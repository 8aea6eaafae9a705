/**
 * MLLP framing: <VT> message <FS><CR> (0x0B … 0x1C 0x0D).
 *
 * TCP delivers a stream, not messages, so the decoder keeps state across chunks: a frame may be
 * split anywhere (also between FS and CR), one chunk may carry several frames, bytes may arrive
 * between frames (noise, keep-alives, a BOM). A frame ends at FS; the CR after it is consumed when
 * it comes, in this chunk or the next. A start block inside an unfinished frame means the sender
 * gave up on that frame: the partial frame is dropped (the sender got no ACK for it and resends).
 */

export const START_BLOCK = 0x0b;
export const END_BLOCK = 0x1c;
export const CARRIAGE_RETURN = 0x0d;

export type DecodedFrame = { kind: 'frame'; bytes: Buffer } | { kind: 'oversized'; head: Buffer; size: number };

export interface DecoderStats {
  frames: number;
  /** Bytes outside of any frame (ignored). */
  strayBytes: number;
  /** Partial frames abandoned by a new start block. */
  abandoned: number;
  oversized: number;
}

/** What of an oversized frame is kept, so its MSH can still be answered. */
const OVERSIZED_HEAD = 64 * 1024;

export class MllpDecoder {
  readonly stats: DecoderStats = { frames: 0, strayBytes: 0, abandoned: 0, oversized: 0 };
  private readonly maxFrameBytes: number;
  private inFrame = false;
  private afterEnd = false;
  private parts: Buffer[] = [];
  private size = 0;
  private oversized = false;

  constructor(maxFrameBytes = 16 * 1024 * 1024) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Feeds one TCP chunk; returns the frames it completed, in order. */
  push(chunk: Buffer): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.afterEnd) {
        this.afterEnd = false;
        if (chunk[i] === CARRIAGE_RETURN) {
          i++;
          continue;
        }
      }
      if (!this.inFrame) {
        const start = chunk.indexOf(START_BLOCK, i);
        if (start < 0) {
          this.stats.strayBytes += chunk.length - i;
          break;
        }
        this.stats.strayBytes += start - i;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const end = chunk.indexOf(END_BLOCK, i);
      const restart = chunk.indexOf(START_BLOCK, i);
      if (restart >= 0 && (end < 0 || restart < end)) {
        this.stats.abandoned++;
        this.reset();
        this.inFrame = true;
        i = restart + 1;
        continue;
      }
      const stop = end < 0 ? chunk.length : end;
      this.append(chunk.subarray(i, stop));
      if (end < 0) break;
      out.push(this.finish());
      this.afterEnd = true;
      i = end + 1;
    }
    return out;
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.size + part.length > this.maxFrameBytes) {
      if (!this.oversized) {
        this.oversized = true;
        const head = Buffer.concat(this.parts);
        this.parts = [head.subarray(0, OVERSIZED_HEAD)];
      }
      const kept = this.parts.reduce((n, p) => n + p.length, 0);
      if (kept < OVERSIZED_HEAD) this.parts.push(part.subarray(0, OVERSIZED_HEAD - kept));
      this.size += part.length;
      return;
    }
    this.parts.push(Buffer.from(part));
    this.size += part.length;
  }

  private finish(): DecodedFrame {
    const bytes = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    const frame: DecodedFrame = this.oversized ? { kind: 'oversized', head: bytes, size: this.size } : { kind: 'frame', bytes };
    if (this.oversized) this.stats.oversized++;
    else this.stats.frames++;
    this.reset();
    return frame;
  }

  private reset(): void {
    this.inFrame = false;
    this.parts = [];
    this.size = 0;
    this.oversized = false;
  }

  /** True when a frame has started but not ended (data would be lost if the connection closed now). */
  get pending(): boolean {
    return this.inFrame;
  }
}

/** Wraps a payload in an MLLP frame. */
export function frame(payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = START_BLOCK;
  body.copy(out, 1);
  out[body.length + 1] = END_BLOCK;
  out[body.length + 2] = CARRIAGE_RETURN;
  return out;
}

const BOM = [0xef, 0xbb, 0xbf];

/** Strips a leading UTF-8 byte order mark (some Windows senders write one into every frame). */
export function stripBom(bytes: Buffer): { bytes: Buffer; bom: boolean } {
  if (bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2]) {
    return { bytes: bytes.subarray(3), bom: true };
  }
  return { bytes, bom: false };
}
