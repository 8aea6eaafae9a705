import { type CharsetName, decodeBytes } from './charset.ts';
import type { Delimiters } from './delimiters.ts';

/**
 * Decodes HL7 escape sequences in one leaf value (a component or sub-component):
 * \F\ \S\ \T\ \R\ \E\ (the delimiters), \P\ (v2.7 truncation character), \Xhh…\ (bytes in the
 * message's charset), \.br\ and \.sp\ (line breaks in formatted text). Highlighting (\H\ \N\) and
 * the other formatting commands carry no characters and are dropped. An unknown or unterminated
 * sequence is kept literally: losing text is worse than showing a backslash.
 */
export function unescapeValue(value: string, d: Delimiters, charset?: CharsetName): string {
  const esc = d.escape;
  if (!value.includes(esc)) {
    return value;
  }
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i];
    if (ch !== esc) {
      out += ch;
      i++;
      continue;
    }
    const end = value.indexOf(esc, i + 1);
    if (end < 0) {
      out += value.slice(i);
      break;
    }
    const seq = value.slice(i + 1, end);
    const decoded = decodeSequence(seq, d, charset);
    out += decoded ?? value.slice(i, end + 1);
    i = end + 1;
  }
  return out;
}

function decodeSequence(seq: string, d: Delimiters, charset: CharsetName | undefined): string | undefined {
  switch (seq) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.subcomponent;
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    case 'P':
      return d.truncation ?? '#';
    case 'H':
    case 'N':
      return '';
    case '.br':
      return '\n';
  }
  if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
    const hex = seq.slice(1);
    const bytes = new Uint8Array(hex.length / 2);
    for (let j = 0; j < bytes.length; j++) {
      bytes[j] = Number.parseInt(hex.slice(j * 2, j * 2 + 2), 16);
    }
    return decodeBytes(bytes, charset);
  }
  // \.sp<n>\ skips n lines (default 1).
  const sp = /^\.sp\s*([+]?\d*)$/.exec(seq);
  if (sp) {
    return '\n'.repeat(Math.max(1, Number.parseInt(sp[1] || '1', 10) || 1));
  }
  // Other formatting commands (.fi .nf .in .ti .sk .ce) and charset switches (Cxxyy, Mxxyyzz)
  // change presentation only.
  if (/^\.(fi|nf|ce|in\s*[+-]?\d*|ti\s*[+-]?\d*|sk\s*[+]?\d*)$/.test(seq) || /^[CM][0-9A-Fa-f]{4,6}$/.test(seq)) {
    return '';
  }
  return undefined;
}

/**
 * Escapes a value for writing into a leaf (component or sub-component): the escape character first,
 * then every delimiter, then line breaks (as \.br\, which formatted-text receivers render).
 */
export function escapeValue(value: string, d: Delimiters): string {
  let out = '';
  for (const ch of value) {
    switch (ch) {
      case d.escape:
        out += `${d.escape}E${d.escape}`;
        break;
      case d.field:
        out += `${d.escape}F${d.escape}`;
        break;
      case d.component:
        out += `${d.escape}S${d.escape}`;
        break;
      case d.subcomponent:
        out += `${d.escape}T${d.escape}`;
        break;
      case d.repetition:
        out += `${d.escape}R${d.escape}`;
        break;
      case d.truncation:
        out += `${d.escape}P${d.escape}`;
        break;
      case '\r':
        break;
      case '\n':
        out += `${d.escape}.br${d.escape}`;
        break;
      default:
        out += ch;
    }
  }
  return out;
}
