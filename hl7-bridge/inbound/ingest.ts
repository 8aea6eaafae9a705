import type { InboundChannelConfig } from '../config.ts';
import { type AckError, type AckIdentity, ackCodeFor, buildAck, type ControlIds } from '../hl7v2/ack.ts';
import { type Batch, isBatch, splitBatch } from '../hl7v2/batch.ts';
import { encodeText } from '../hl7v2/charset.ts';
import { nowDtm } from '../hl7v2/datetime.ts';
import { escapeValue } from '../hl7v2/escape.ts';
import { Hl7ParseError, type Message } from '../hl7v2/message.ts';
import { type Verdict, validateMessage } from '../hl7v2/validate.ts';
import type { DecodedFrame } from '../mllp/framing.ts';
import type { InboundRecord } from '../store/message-store.ts';
import { decodeFrame } from './decode.ts';

/** One message of a frame, checked, with the record to store and the ACK to send. */
export interface PreparedMessage {
  record: InboundRecord;
  verdict: Verdict;
  message?: Message;
}

export interface PreparedFrame {
  messages: PreparedMessage[];
  /** Present when the frame was a batch: the reply is then a batch of ACKs. */
  batch?: Batch;
  charset: string;
}

export interface IngestContext {
  channel: InboundChannelConfig;
  identity: AckIdentity;
  ids: ControlIds;
  remote: string;
}

/** PID-3 values as the message log indexes them: "value" and "authority|value". */
export function patientIds(message: Message | undefined): string[] {
  const pid = message?.segment('PID');
  if (!pid) return [];
  const out = new Set<string>();
  for (const rep of pid.reps(3)) {
    const value = rep.c(1);
    if (!value) continue;
    out.add(value);
    const authority = rep.c(4);
    if (authority) out.add(`${authority}|${value}`);
  }
  return [...out];
}

/**
 * The ordering lane: messages about one patient are converted in arrival order. The first PID-3
 * (with its assigning authority) names the patient; messages without one are independent.
 */
export function laneOf(message: Message | undefined, fallback: string): string {
  const rep = message?.segment('PID')?.rep(3);
  if (rep?.c(1)) return `${rep.c(4)}|${rep.c(1)}`;
  return fallback;
}

/** PostgreSQL text cannot hold NUL; the exact bytes are kept in `raw` anyway. */
function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

function prepareMessage(text: string, raw: Buffer, charset: string, ctx: IngestContext): PreparedMessage {
  const verdict = validateMessage(text, {
    messageTypes: ctx.channel.messageTypes,
    processingIds: ctx.channel.processingIds,
    allowedSenders: ctx.channel.allowedSenders,
  });
  return withRecord(text, raw, charset, ctx, verdict);
}

/** The record to store for a message (parsed or not) and its verdict, with the ACK that answers it. */
function withRecord(text: string, raw: Buffer, charset: string, ctx: IngestContext, verdict: Verdict): PreparedMessage {
  const message = verdict.message;
  const ackControlId = ctx.ids.next();
  const code = ackCodeFor(verdict.code, message);
  const ackText = buildAck(message, { code, controlId: ackControlId, errors: verdict.errors, identity: ctx.identity });
  const accepted = verdict.code === 'AA';
  const h = message?.header;
  return {
    verdict,
    message,
    record: {
      channel: ctx.channel.name,
      remote: ctx.remote,
      raw,
      body: storableText(text),
      charset,
      sendingApplication: h?.value(3) ?? '',
      sendingFacility: h?.value(4) ?? '',
      controlId: h?.value(10) ?? '',
      messageType: message ? message.typeName : '',
      version: h?.value(12) || undefined,
      messageTime: h?.value(7) || undefined,
      patientIds: patientIds(message),
      lane: laneOf(message, `ack:${ackControlId}`),
      accepted,
      status: accepted ? 'pending' : 'rejected',
      ackCode: code,
      ackControlId,
      ack: Buffer.from(encodeText(ackText, charset)),
      ...(accepted ? {} : { resultCode: verdict.code, error: verdict.errors.map((e) => e.text).join('; '), errorDetail: verdict.errors }),
    },
  };
}

/** A frame that could not even be split into messages: one AR for the whole frame. */
function rejectFrame(raw: Buffer, text: string, charset: string, ctx: IngestContext, error: AckError): PreparedFrame {
  return { charset, messages: [withRecord(text, raw, charset, ctx, { code: 'AR', errors: [error] })] };
}

/**
 * Turns one MLLP frame into the messages to store and their ACKs: decodes the charset, strips a
 * BOM, splits batches, and makes the AA/AE/AR decision for each message. Nothing here throws for
 * bad input: whatever arrives is stored and answered.
 */
export function prepareFrame(frame: DecodedFrame, ctx: IngestContext): PreparedFrame {
  if (frame.kind === 'oversized') {
    const decoded = decodeFrame(frame.head, ctx.channel.defaultCharset);
    return rejectFrame(frame.head, decoded.text, decoded.charset, ctx, {
      code: '104',
      severity: 'E',
      text: `The frame has ${frame.size} bytes, more than this channel accepts (${ctx.channel.maxFrameBytes})`,
    });
  }
  const decoded = decodeFrame(frame.bytes, ctx.channel.defaultCharset);
  const { text, charset } = decoded;
  if (!isBatch(text)) {
    return { charset, messages: [prepareMessage(text, frame.bytes, charset, ctx)] };
  }
  let batch: Batch;
  try {
    batch = splitBatch(text);
  } catch (err) {
    const e = err instanceof Hl7ParseError ? err : new Hl7ParseError(String(err), '100');
    return rejectFrame(frame.bytes, text, charset, ctx, { code: e.code, severity: 'E', text: e.message, location: e.location });
  }
  if (batch.messages.length === 0) {
    return rejectFrame(frame.bytes, text, charset, ctx, { code: '100', severity: 'E', text: 'The batch contains no message' });
  }
  return {
    charset,
    batch,
    messages: batch.messages.map((m) => prepareMessage(m, Buffer.from(encodeText(m, charset)), charset, ctx)),
  };
}

/**
 * The reply to a frame: the ACK of a single message, or for a batch the ACKs wrapped in the batch
 * envelope the sender used (FHS/BHS swapped like MSH, BHS-12 = the sender's BHS-11, BTS-1 = count).
 */
export function buildReply(prepared: PreparedFrame, acks: Buffer[], ctx: IngestContext): Buffer {
  const { batch } = prepared;
  if (!batch || (!batch.fileHeader && !batch.batchHeader)) {
    return acks.length === 1 ? acks[0] : Buffer.concat(acks);
  }
  const header = (seg: NonNullable<Batch['fileHeader']>) => {
    const d = seg.delimiters;
    const esc = (v: string) => escapeValue(v, d);
    return [
      `${seg.name}${d.field}${seg.field(2)}`,
      seg.field(5) || esc(ctx.identity.application),
      seg.field(6) || esc(ctx.identity.facility),
      seg.field(3),
      seg.field(4),
      nowDtm(),
      '',
      '',
      '',
      esc(ctx.ids.next()),
      seg.field(11),
    ].join(d.field);
  };
  const parts: string[] = [];
  if (batch.fileHeader) parts.push(`${header(batch.fileHeader)}\r`);
  if (batch.batchHeader) parts.push(`${header(batch.batchHeader)}\r`);
  const head = Buffer.from(encodeText(parts.join(''), prepared.charset));
  const trailer: string[] = [];
  if (batch.batchHeader) trailer.push(`BTS|${acks.length}\r`);
  if (batch.fileHeader) trailer.push(`FTS|${batch.batchHeader ? 1 : acks.length}\r`);
  return Buffer.concat([head, ...acks, Buffer.from(trailer.join(''), 'latin1')]);
}
