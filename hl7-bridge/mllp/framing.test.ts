import { describe, expect, test } from 'vitest';
import { corpus } from '../test-corpus/messages.ts';
import { frame, MllpDecoder, stripBom } from './framing.ts';

const a = Buffer.from(corpus.adtA01);
const b = Buffer.from(corpus.oruVitals);
const stream = Buffer.concat([Buffer.from('noise'), frame(a), Buffer.from('\r\n'), frame(b)]);

function decodeAll(chunks: Buffer[]): string[] {
  const d = new MllpDecoder();
  return chunks.flatMap((c) => d.push(c)).map((f) => (f.kind === 'frame' ? f.bytes.toString() : `oversized:${f.size}`));
}

describe('MLLP framing', () => {
  test('every way of cutting the stream in two gives the same frames', () => {
    for (let i = 0; i <= stream.length; i++) {
      expect(decodeAll([stream.subarray(0, i), stream.subarray(i)]), `cut at ${i}`).toEqual([corpus.adtA01, corpus.oruVitals]);
    }
  });

  test('byte by byte', () => {
    expect(decodeAll([...stream].map((x) => Buffer.from([x])))).toEqual([corpus.adtA01, corpus.oruVitals]);
  });

  test('stray bytes are counted; an abandoned frame is dropped; FS without CR still ends a frame', () => {
    const d = new MllpDecoder();
    const out = d.push(
      Buffer.concat([Buffer.from('xx'), frame(a).subarray(0, 30), frame(b), Buffer.from([0x0b]), a, Buffer.from([0x1c]), Buffer.from('z')]),
    );
    expect(out.map((f) => (f.kind === 'frame' ? f.bytes.toString() : ''))).toEqual([corpus.oruVitals, corpus.adtA01]);
    expect(d.stats).toMatchObject({ frames: 2, abandoned: 1, strayBytes: 3 });
    expect(d.pending).toBe(false);
  });

  test('a frame over the limit is reported with its head, and the next one is fine', () => {
    const d = new MllpDecoder(100);
    const out = d.push(Buffer.concat([frame(a), frame('MSH|^~\\&|x')]));
    expect(out[0]).toMatchObject({ kind: 'oversized', size: a.length });
    expect(out[0].kind === 'oversized' && out[0].head.toString().startsWith('MSH|')).toBe(true);
    expect(out[1]).toMatchObject({ kind: 'frame' });
  });

  test('a BOM is stripped only at the start', () => {
    expect(stripBom(Buffer.from([0xef, 0xbb, 0xbf, 0x4d]))).toEqual({ bytes: Buffer.from('M'), bom: true });
    expect(stripBom(Buffer.from('MSH'))).toEqual({ bytes: Buffer.from('MSH'), bom: false });
  });
});
