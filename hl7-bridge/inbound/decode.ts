import { type CharsetName, decodeBytes, normalizeCharset } from '../hl7v2/charset.ts';
import { stripBom } from '../mllp/framing.ts';

export interface DecodedText {
  text: string;
  /** The charset the bytes were decoded with. */
  charset: CharsetName;
  /** MSH-18 as declared (may be unsupported; validation then answers AR). */
  declared?: string;
  bom: boolean;
}

/**
 * Finds MSH-18 in the first MSH of a frame. The header is ASCII in every charset we support, so
 * reading it byte by byte is safe before the charset is known.
 */
function declaredCharset(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, Math.min(bytes.length, 4096)).toString('latin1');
  const found = head.startsWith('MSH') ? 0 : head.search(/[\r\n]MSH/) + 1;
  // search() gives -1 when there is no MSH, so found is 0 only for a leading MSH.
  if ((found === 0 && !head.startsWith('MSH')) || head.length < found + 4) return undefined;
  const at = found;
  const line = head.slice(at).split(/[\r\n]/)[0];
  const fields = line.split(line[3]);
  // fields[0] is "MSH", fields[1] is MSH-2: MSH-n is fields[n - 1].
  const msh18 = fields[17];
  if (!msh18) return undefined;
  const component = line[4];
  const repetition = line[5];
  return msh18.split(repetition)[0].split(component)[0] || undefined;
}

/**
 * Frame bytes → text. The declared MSH-18 charset wins; without one the channel's default applies
 * (UTF-8 unless configured), and bytes that are not valid UTF-8 fall back to ISO 8859/1 — every
 * byte sequence is valid Latin-1, so nothing is lost and the raw bytes are stored anyway.
 */
export function decodeFrame(payload: Buffer, defaultCharset: CharsetName = 'UNICODE UTF-8'): DecodedText {
  const { bytes, bom } = stripBom(payload);
  const declared = declaredCharset(bytes);
  const supported = normalizeCharset(declared);
  if (supported) {
    return { text: decodeBytes(bytes, supported), charset: supported, declared, bom };
  }
  if (declared) {
    return { text: decodeBytes(bytes, '8859/1'), charset: '8859/1', declared, bom };
  }
  if (defaultCharset === 'UNICODE UTF-8' || defaultCharset === 'UTF-8') {
    try {
      return { text: decodeBytes(bytes, 'UNICODE UTF-8', true), charset: 'UNICODE UTF-8', bom };
    } catch {
      return { text: decodeBytes(bytes, '8859/1'), charset: '8859/1', bom };
    }
  }
  return { text: decodeBytes(bytes, defaultCharset), charset: defaultCharset, bom };
}
