import { describe, expect, test } from 'vitest';
import { corpus, er7 } from '../test-corpus/messages.ts';
import { decodeBytes, encodeText } from './charset.ts';
import { escapeValue, unescapeValue } from './escape.ts';
import { Hl7ParseError, Message } from './message.ts';

/** Splits a message down to sub-components and joins it back from the parts (not from the raw text). */
function recompose(msg: Message): string {
  const d = msg.delimiters;
  return msg.segments
    .map((s) => {
      const fields: string[] = [s.name];
      for (let f = s.name === 'MSH' ? 3 : 1; f <= s.length; f++) {
        fields.push(
          s
            .reps(f)
            .map((r) =>
              r
                .components()
                .map((c) => c.split(d.subcomponent).join(d.subcomponent))
                .join(d.component),
            )
            .join(d.repetition),
        );
      }
      if (s.name === 'MSH') fields.splice(1, 0, s.field(2));
      return fields.join(d.field);
    })
    .join('\r');
}

describe('lossless parsing', () => {
  test.each(Object.entries(corpus).filter(([name]) => name !== 'batch'))('%s round-trips byte for byte', (_name, text) => {
    const msg = Message.parse(text);
    expect(msg.toString()).toBe(text);
    expect(`${recompose(msg)}\r`).toBe(text);
  });

  test('the traps of public serializers: leading zeros, negative offsets, & in sub-components, v2.7 #', () => {
    const text = er7(String.raw`
MSH|^~\&#|A|B|C|D|20260105081530-0500||ADT^A08|X1|P|2.7
PID|1||000123^^^HOSP&1.2.3&ISO^MR||Smith \T\ Sons^Ann||00010101|F
OBX|1|NM|1^a||-0.50||||||F|||20260105081530-0430
`);
    const msg = Message.parse(text);
    expect(msg.toString()).toBe(text);
    expect(msg.delimiters.truncation).toBe('#');
    expect(msg.header.field(2)).toBe('^~\\&#');
    expect(msg.get('PID-3.1')).toBe('000123');
    expect(msg.get('PID-3.4.2')).toBe('1.2.3');
    expect(msg.get('PID-3.4.3')).toBe('ISO');
    expect(msg.get('PID-5.1')).toBe('Smith & Sons');
    expect(msg.get('OBX-5')).toBe('-0.50');
    expect(msg.get('OBX-14')).toBe('20260105081530-0430');
  });

  test('CRLF and LF terminators and blank lines survive the round trip', () => {
    const text = 'MSH|^~\\&|A|B|C|D|20260105||ADT^A01|X|P|2.5\r\nPID|1||1^^^H^MR\n\nPV1|1|E\r\n';
    const msg = Message.parse(text);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'PV1']);
    expect(msg.toString()).toBe(text);
  });

  test('Z-segments are kept and readable', () => {
    const msg = Message.parse(corpus.adtA01);
    expect(msg.segment('ZPD')?.value(2, 2)).toBe('Board member');
    expect(msg.get('ZPD-3')).toBe('Custom | field');
  });
});

describe('access by HL7 path', () => {
  const msg = Message.parse(corpus.adtA01);
  test('fields, repetitions, components, sub-components', () => {
    expect(msg.get('MSH-1')).toBe('|');
    expect(msg.get('MSH-2')).toBe('^~\\&');
    expect(msg.get('MSH-9.2')).toBe('A01');
    expect(msg.typeName).toBe('ADT^A01');
    expect(msg.controlId).toBe('MSG00001');
    expect(msg.version).toBe('2.5.1');
    expect(msg.get('PID-3[2].1')).toBe('987-65-4320');
    expect(msg.get('PID-5[2].7')).toBe('M');
    expect(msg.get('PV2-3.9')).toBe('Chest pain & shortness of breath');
    expect(msg.segment('PID')?.reps(3)).toHaveLength(2);
    expect(msg.get('PID-40')).toBe('');
    expect(msg.get('ZZZ-1')).toBe('');
  });

  test('custom delimiters', () => {
    const m = Message.parse(corpus.customDelimiters);
    expect(m.delimiters).toMatchObject({ field: '!', component: '@', repetition: '#', escape: '$', subcomponent: '%' });
    expect(m.typeName).toBe('ADT^A08');
    expect(m.get('PID-5.1')).toBe('O@Brien');
    expect(m.get('PV1-19.1')).toBe('V00098765');
  });

  test('the explicit null "" reads as empty and is flagged', () => {
    const m = Message.parse('MSH|^~\\&|A|B|C|D|20260105||ADT^A08|X|P|2.5\rPID|1||1^^^H^MR||Doe^Jo|||""\r');
    expect(m.segment('PID')?.rep(8).isNull).toBe(true);
    expect(m.get('PID-8')).toBe('');
  });
});

describe('escape sequences', () => {
  const d = Message.parse(corpus.adtA01).delimiters;
  test('every delimiter, hex bytes, formatting', () => {
    expect(unescapeValue(String.raw`a\F\b\S\c\T\d\R\e\E\f`, d)).toBe('a|b^c&d~e\\f');
    expect(unescapeValue(String.raw`line1\.br\line2\.sp2\end`, d)).toBe('line1\nline2\n\nend');
    expect(unescapeValue(String.raw`\H\bold\N\ text`, d)).toBe('bold text');
    expect(unescapeValue('Jos\\XC3A9\\', d, 'UNICODE UTF-8')).toBe('José');
    expect(unescapeValue('Jos\\XE9\\', d, '8859/1')).toBe('José');
    expect(unescapeValue(String.raw`\P\1`, { ...d, truncation: '#' })).toBe('#1');
  });
  test('unknown or unterminated sequences stay literal', () => {
    expect(unescapeValue(String.raw`C:\temp\file`, d)).toBe(String.raw`C:\temp\file`);
    expect(unescapeValue(String.raw`ends with \F`, d)).toBe(String.raw`ends with \F`);
  });
  test('escape then unescape is the identity', () => {
    const value = 'A|B^C&D~E\\F\nG';
    expect(escapeValue(value, d)).toBe(String.raw`A\F\B\S\C\T\D\R\E\E\F\.br\G`);
    expect(unescapeValue(escapeValue(value, d), d)).toBe(value);
  });
  test('values read from a message are decoded', () => {
    const m = Message.parse(corpus.oruLab);
    expect(m.segment('OBX', 9)?.rep(5).text()).toBe('First line\nSecond line \\ backslash');
  });
});

describe('charsets', () => {
  test('UTF-8 and Latin-1 bytes decode and encode back identically', () => {
    const utf8 = new TextEncoder().encode(corpus.adtA04Utf8);
    expect(decodeBytes(utf8, 'UNICODE UTF-8')).toBe(corpus.adtA04Utf8);
    const latin1 = encodeText(corpus.adtA08Latin1, '8859/1');
    expect(latin1).toContain(0xd8); // Ø as one byte
    expect(latin1.length).toBe(corpus.adtA08Latin1.length);
    expect(decodeBytes(latin1, '8859/1')).toBe(corpus.adtA08Latin1);
    expect(Array.from(encodeText(decodeBytes(latin1, '8859/1'), '8859/1'))).toEqual(Array.from(latin1));
    expect(Message.parse(corpus.adtA08Latin1).get('PID-5.2')).toBe('Zoë');
  });
  test('Latin-1 is not windows-1252: 0x80-0x9F map to the same code points', () => {
    expect(decodeBytes(new Uint8Array([0x80, 0x9f]), '8859/1')).toBe('\u0080\u009f');
  });
});

describe('refusals', () => {
  test.each([
    ['not starting with MSH', 'PID|1||1\r', '100'],
    ['too short', 'MSH|0000|\r', '102'],
    ['repeated encoding characters', 'MSH|^^^^|A\r', '102'],
    ['a line that is not a segment', 'MSH|^~\\&|A|B|C|D|20260105||ADT^A01|X|P|2.5\rhello world\r', '100'],
  ])('%s', (_name, text, code) => {
    try {
      Message.parse(text);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(Hl7ParseError);
      expect((err as Hl7ParseError).code).toBe(code);
    }
  });
});

describe('building', () => {
  test('addSegment writes header delimiters and escapes nothing by itself', () => {
    const m = Message.create();
    m.addSegment('MSH', ['ES', 'ED', 'EHR', 'HOSP', '20260105', '', 'ADT^A01^ADT_A01', 'C1', 'P', '2.5.1']);
    m.addSegment('PID', ['1', '', '42^^^HOSP^MR']);
    expect(m.toString()).toBe('MSH|^~\\&|ES|ED|EHR|HOSP|20260105||ADT^A01^ADT_A01|C1|P|2.5.1\rPID|1||42^^^HOSP^MR\r');
    expect(Message.parse(m.toString()).get('PID-3.4')).toBe('HOSP');
  });
});
