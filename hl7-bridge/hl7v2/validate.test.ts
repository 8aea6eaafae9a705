import { describe, expect, test } from 'vitest';
import { corpus, garbage, invalid } from '../test-corpus/messages.ts';
import { buildAck, ControlIds } from './ack.ts';
import { splitBatch } from './batch.ts';
import { dtmToFhirDate, dtmToFhirDateTime, fhirToDtm, isValidDtm } from './datetime.ts';
import { Message } from './message.ts';
import { validateMessage } from './validate.ts';

describe('AA / AE / AR', () => {
  test.each(Object.entries(corpus).filter(([name]) => name !== 'batch'))('%s is accepted (AA)', (_name, text) => {
    const verdict = validateMessage(text);
    expect(verdict.errors).toEqual([]);
    expect(verdict.code).toBe('AA');
  });

  test.each([
    ['text', '100'],
    ['truncatedHeader', '102'],
    ['badEncoding', '102'],
    ['unsupportedVersion', '203'],
    ['unsupportedType', '200'],
    ['missingControlId', '101'],
  ] as const)('garbage %s is rejected (AR %s)', (name, code) => {
    const verdict = validateMessage(garbage[name]);
    expect(verdict.code).toBe('AR');
    expect(verdict.errors[0].code).toBe(code);
  });

  test('an unsupported event of a supported type: AR 201 at MSH-9.2', () => {
    const v = validateMessage(corpus.adtA01.replace('ADT^A01^ADT_A01', 'ADT^A31^ADT_A05'));
    expect(v).toMatchObject({ code: 'AR', errors: [{ code: '201', location: { segment: 'MSH', field: 9, component: 2 } }] });
  });

  test('unsupported charset, processing id, sender', () => {
    expect(validateMessage(corpus.adtA04Utf8.replace('UNICODE UTF-8', 'ISO IR87')).errors[0]).toMatchObject({
      code: '103',
      location: { field: 18 },
    });
    expect(validateMessage(corpus.adtA01, { processingIds: ['T'] }).errors[0].code).toBe('202');
    expect(validateMessage(corpus.adtA01, { allowedSenders: [{ application: 'CERNER' }] }).code).toBe('AR');
    expect(validateMessage(corpus.adtA01, { allowedSenders: [{ application: 'EPIC', facility: 'GENHOSP' }] }).code).toBe('AA');
  });

  test('AE: each problem is an ERR with its location', () => {
    expect(validateMessage(invalid.missingPid3)).toMatchObject({
      code: 'AE',
      errors: [{ code: '101', location: { segment: 'PID', sequence: 1, field: 3 } }],
    });
    const dates = validateMessage(invalid.badDates);
    expect(dates.code).toBe('AE');
    expect(dates.errors.map((e) => [e.code, e.location?.segment, e.location?.field])).toEqual([
      ['102', 'PID', 7],
      ['103', 'PV1', 2],
      ['102', 'PV1', 44],
    ]);
    expect(validateMessage(invalid.badNumber).errors[0]).toMatchObject({ code: '102', location: { segment: 'OBX', field: 5 } });
  });

  test('a missing required segment', () => {
    const noPv1 = corpus.adtA01
      .split('\r')
      .filter((s) => !s.startsWith('PV1'))
      .join('\r');
    expect(validateMessage(noPv1).errors).toEqual([expect.objectContaining({ code: '100', location: { segment: 'PV1' } })]);
  });
});

describe('ACKs legacy systems accept', () => {
  const inbound = Message.parse(corpus.adtA01);
  test('MSH-3..6 swapped, unique MSH-10, MSA-2 = inbound MSH-10, ACK^event^ACK', () => {
    const ids = new ControlIds();
    const ack = Message.parse(buildAck(inbound, { code: 'AA', controlId: ids.next(), timestamp: '20260105081531-0500' }));
    expect(ack.get('MSH-3')).toBe('EMERGISPHERE');
    expect(ack.get('MSH-4')).toBe('ED');
    expect(ack.get('MSH-5')).toBe('EPIC');
    expect(ack.get('MSH-6')).toBe('GENHOSP');
    expect(ack.header.field(9)).toBe('ACK^A01^ACK');
    expect(ack.controlId).not.toBe(inbound.controlId);
    expect(ack.get('MSH-11')).toBe('P');
    expect(ack.version).toBe('2.5.1');
    expect(ack.segment('MSA')?.toString()).toBe('MSA|AA|MSG00001');
    const many = new Set(Array.from({ length: 10000 }, () => ids.next()));
    expect(many.size).toBe(10000);
    expect([...many].every((id) => id.length <= 20)).toBe(true);
  });

  test('AE with v2.5 ERR segments', () => {
    const v = validateMessage(invalid.badDates);
    const ack = Message.parse(buildAck(v.message, { code: 'AE', controlId: 'X', errors: v.errors }));
    expect(ack.get('MSA-1')).toBe('AE');
    expect(ack.get('MSA-2')).toBe('BAD2');
    expect(ack.all('ERR')).toHaveLength(3);
    expect(ack.segment('ERR')?.field(2)).toBe('PID^1^7^1');
    expect(ack.segment('ERR')?.field(3)).toBe('102^Data type error^HL70357');
    expect(ack.segment('ERR')?.field(4)).toBe('E');
    expect(ack.get('ERR-8')).toContain('19801341');
  });

  test('v2.3 gets the ERR-1 layout and ACK^event', () => {
    const old = Message.parse(corpus.adtA04Utf8);
    const ack = Message.parse(
      buildAck(old, {
        code: 'AE',
        controlId: 'X',
        errors: [{ code: '101', severity: 'E', text: 'PV1-2 missing', location: { segment: 'PV1', sequence: 1, field: 2 } }],
      }),
    );
    expect(ack.header.field(9)).toBe('ACK^A04');
    expect(ack.segment('ERR')?.field(1)).toBe('PV1^1^2^101&PV1-2 missing&HL70357');
    expect(ack.get('MSH-18')).toBe('UNICODE UTF-8');
  });

  test('custom delimiters are answered in kind', () => {
    const m = Message.parse(corpus.customDelimiters);
    const ack = buildAck(m, { code: 'AA', controlId: 'X' });
    expect(ack.startsWith('MSH!@#$%!EMERGISPHERE!ED!EPIC!GENHOSP!')).toBe(true);
    expect(ack).toContain('ACK@A08@ACK');
  });

  test('garbage: AR with our identity and an empty MSA-2', () => {
    const v = validateMessage(garbage.text);
    const ack = Message.parse(buildAck(undefined, { code: 'AR', controlId: 'X', errors: v.errors }));
    expect(ack.get('MSA-1')).toBe('AR');
    expect(ack.get('MSA-2')).toBe('');
    expect(ack.get('MSH-3')).toBe('EMERGISPHERE');
    expect(ack.get('ERR-3')).toBe('100');
  });
});

describe('batches', () => {
  test('FHS/BHS/BTS/FTS are split into messages', () => {
    const b = splitBatch(corpus.batch);
    expect(b.fileHeader?.value(11)).toBe('FILE01');
    expect(b.batchHeader?.value(11)).toBe('BATCH01');
    expect(b.declaredCount).toBe(2);
    expect(b.messages.map((m) => Message.parse(m).controlId)).toEqual(['B0001', 'B0002']);
    expect(b.messages.join('')).toBe(corpus.batch.split('\r').slice(2, 8).join('\r') + '\r');
  });
  test('headerless concatenated messages are a batch too', () => {
    const b = splitBatch(corpus.adtA01 + corpus.oruLab);
    expect(b.messages).toEqual([corpus.adtA01, corpus.oruLab]);
  });
  test('a stray segment outside any message is an error', () => {
    expect(() => splitBatch('BHS|^~\\&\rPID|1\rBTS|0\r')).toThrow(/outside of any message/);
  });
});

describe('dates', () => {
  test('DTM → FHIR keeps precision and offsets, applies the sender zone when none is given', () => {
    expect(dtmToFhirDateTime('20260105081530-0500')).toBe('2026-01-05T08:15:30-05:00');
    expect(dtmToFhirDateTime('20260105081530.1234+0530')).toBe('2026-01-05T08:15:30.1234+05:30');
    expect(dtmToFhirDateTime('202601050815', 'UTC')).toBe('2026-01-05T08:15:00+00:00');
    expect(dtmToFhirDateTime('2026010508', '+0100')).toBe('2026-01-05T08:00:00+01:00');
    expect(dtmToFhirDateTime('20260705120000', 'America/New_York')).toBe('2026-07-05T12:00:00-04:00');
    expect(dtmToFhirDateTime('20260105120000', 'America/New_York')).toBe('2026-01-05T12:00:00-05:00');
    expect(dtmToFhirDateTime('202601')).toBe('2026-01');
    expect(dtmToFhirDate('19750301120000')).toBe('1975-03-01');
    expect(dtmToFhirDateTime('20260230')).toBeUndefined();
    expect(isValidDtm('2026-01-05')).toBe(false);
  });
  test('zones used one after another each keep their own rules (formatters are reused per zone)', () => {
    for (let i = 0; i < 3; i++) {
      expect(dtmToFhirDateTime('20260705120000', 'Europe/Paris')).toBe('2026-07-05T12:00:00+02:00');
      expect(dtmToFhirDateTime('20260705120000', 'America/New_York')).toBe('2026-07-05T12:00:00-04:00');
      expect(dtmToFhirDateTime('20260105120000', 'Asia/Kolkata')).toBe('2026-01-05T12:00:00+05:30');
      expect(dtmToFhirDateTime('20260105120000', 'Europe/Paris')).toBe('2026-01-05T12:00:00+01:00');
    }
    // The runtime's zone applies when none is given (UTC here unless TZ says otherwise).
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    expect(dtmToFhirDateTime('20260105120000')).toBe(dtmToFhirDateTime('20260105120000', zone));
  });
  test('FHIR → DTM', () => {
    expect(fhirToDtm('2026-01-05T08:15:30-05:00')).toBe('20260105081530-0500');
    expect(fhirToDtm('2026-01-05T08:15:30.123Z')).toBe('20260105081530.123+0000');
    expect(fhirToDtm('1975-03-01')).toBe('19750301');
  });
});
