/**
 * MSH-18 character sets. The bridge decodes the bytes of a frame with the set the message names
 * (the header itself is ASCII in every supported set), and hex escapes (\Xhh\) are decoded with
 * the same set. Pure code: TextDecoder exists in Node and in the bot sandbox.
 */

/** The charsets we accept, by their HL7 table 0211 name, with the WHATWG label to decode them. */
const CHARSETS: Record<string, string> = {
  ASCII: 'latin1',
  '8859/1': 'latin1',
  '8859/2': 'iso-8859-2',
  '8859/3': 'iso-8859-3',
  '8859/4': 'iso-8859-4',
  '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6',
  '8859/7': 'iso-8859-7',
  '8859/8': 'iso-8859-8',
  '8859/15': 'iso-8859-15',
  'UNICODE UTF-8': 'utf-8',
  // Seen in the wild although not in table 0211.
  'UTF-8': 'utf-8',
};

export type CharsetName = string;

/** The supported HL7 name for an MSH-18 value (trimmed, case-insensitive), or undefined. */
export function normalizeCharset(value: string | undefined): CharsetName | undefined {
  const v = (value ?? '').trim().toUpperCase();
  if (!v) return undefined;
  return Object.keys(CHARSETS).find((k) => k === v);
}

export function isSupportedCharset(value: string): boolean {
  return normalizeCharset(value) !== undefined;
}

/**
 * WHATWG's "iso-8859-1" is really windows-1252 (0x80–0x9F become typographic characters), so
 * Latin-1 and ASCII are decoded by hand: byte n is code point n, which also makes them reversible.
 */
function decodeLatin1(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

const decoders = new Map<string, TextDecoder>();

/** Decodes bytes in an HL7 charset (undefined = UTF-8). `fatal` makes invalid UTF-8 throw. */
export function decodeBytes(bytes: Uint8Array, charset: CharsetName | undefined, fatal = false): string {
  const label = CHARSETS[charset ?? 'UNICODE UTF-8'] ?? 'utf-8';
  if (label === 'latin1') {
    return decodeLatin1(bytes);
  }
  const key = `${label}:${fatal}`;
  let decoder = decoders.get(key);
  if (!decoder) {
    decoder = new TextDecoder(label, { fatal, ignoreBOM: true });
    decoders.set(key, decoder);
  }
  return decoder.decode(bytes);
}

const encoders = new Map<string, Map<number, number>>();

/** Encodes text in an HL7 charset; characters the set cannot represent become '?'. */
export function encodeText(text: string, charset: CharsetName | undefined): Uint8Array {
  const label = CHARSETS[charset ?? 'UNICODE UTF-8'] ?? 'utf-8';
  if (label === 'utf-8') {
    return new TextEncoder().encode(text);
  }
  let table = encoders.get(label);
  if (!table) {
    // Single-byte sets: invert the decoder once.
    table = new Map();
    const all = new Uint8Array(256).map((_, i) => i);
    const chars = label === 'latin1' ? decodeLatin1(all) : new TextDecoder(label).decode(all);
    for (let i = 0; i < 256; i++) {
      if (!table.has(chars.charCodeAt(i))) table.set(chars.charCodeAt(i), i);
    }
    encoders.set(label, table);
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    out[i] = table.get(text.charCodeAt(i)) ?? 0x3f;
  }
  return out;
}
