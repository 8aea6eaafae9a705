import { getStatus, type MedplumClient, normalizeErrorString, OperationOutcomeError } from '@medplum/core';
import type { AckError } from '../hl7v2/ack.ts';
import { splitBatch } from '../hl7v2/batch.ts';
import { Message } from '../hl7v2/message.ts';

/** The application-level outcome of converting one message (from the bot's ACK). */
export interface ConversionResult {
  code: 'AA' | 'AE' | 'AR';
  errors: AckError[];
}

/** The conversion could not run (server down, bot not deployed yet, throttled): try again later. */
export class TransientConversionError extends Error {}

export interface Converter {
  /** Converts messages (in order); one result per message, in the same order. */
  convert(bodies: string[]): Promise<ConversionResult[]>;
}

export const HL7_V2_CONTENT_TYPE = 'x-application/hl7-v2+er7';

/** Reads the ERR segments of an ACK back into AckErrors (either layout). */
function errorsOf(ack: Message): AckError[] {
  return ack.all('ERR').map((err) => {
    const v25 = err.value(3) !== '';
    return {
      code: v25 ? err.value(3) : err.value(1, 4, 1),
      severity: (err.value(4) || 'E') as AckError['severity'],
      text: v25 ? err.value(8) || err.value(3, 2) : err.value(1, 4, 2),
      location: v25
        ? { segment: err.value(2, 1), sequence: Number(err.value(2, 2)) || undefined, field: Number(err.value(2, 3)) || undefined }
        : { segment: err.value(1, 1), sequence: Number(err.value(1, 2)) || undefined, field: Number(err.value(1, 3)) || undefined },
    };
  });
}

/** The bot failed on this message as a whole (it threw): AE with the bot's error. */
function failed(err: unknown): ConversionResult {
  return { code: 'AE', errors: [{ code: '207', severity: 'E', text: err instanceof Error ? err.message : String(err) }] };
}

function normalizeAckCode(code: string): ConversionResult['code'] {
  if (code === 'AA' || code === 'CA') return 'AA';
  if (code === 'AR' || code === 'CR') return 'AR';
  return 'AE';
}

/**
 * Converts through the hl7-inbound bot's `$execute` with content type x-application/hl7-v2+er7,
 * as any Medplum client would. Several stored messages go in one call as an HL7 batch (messages
 * one after another); the bot answers with one ACK per message, in order, each MSA-2 naming its
 * message. A call the bot fails as a whole is retried message by message to find the culprit.
 */
export class BotConverter implements Converter {
  private readonly medplum: MedplumClient;
  private readonly botIdentifier: { system: string; value: string };

  constructor(medplum: MedplumClient, botIdentifier: string) {
    this.medplum = medplum;
    const [system, value] = botIdentifier.split('|');
    this.botIdentifier = { system, value };
  }

  async convert(bodies: string[]): Promise<ConversionResult[]> {
    try {
      return await this.execute(bodies);
    } catch (err) {
      if (err instanceof TransientConversionError) throw err;
      if (bodies.length === 1) return [failed(err)];
    }
    const results: ConversionResult[] = [];
    for (const body of bodies) {
      try {
        results.push(...(await this.execute([body])));
      } catch (err) {
        if (err instanceof TransientConversionError) throw err;
        results.push(failed(err));
      }
    }
    return results;
  }

  private async execute(bodies: string[]): Promise<ConversionResult[]> {
    const payload = bodies.map((b) => (b.endsWith('\r') ? b : `${b}\r`).replace(/\r\n|\n/g, '\r')).join('');
    let reply: unknown;
    try {
      reply = await this.medplum.executeBot(this.botIdentifier, payload, HL7_V2_CONTENT_TYPE, { cache: 'no-cache' });
    } catch (err) {
      const status = err instanceof OperationOutcomeError ? getStatus(err.outcome) : 0;
      // 400: the bot ran and failed. Everything else (no server, 401/403/404 while the bot is being
      // deployed, 429, 5xx) says nothing about the message: keep it and try again later.
      if (status === 400 || status === 422) throw new Error(`hl7-inbound bot failed: ${normalizeErrorString(err)}`);
      throw new TransientConversionError(`hl7-inbound bot unavailable (${status || 'no response'}): ${normalizeErrorString(err)}`);
    }
    if (typeof reply !== 'string' || !reply.startsWith('MSH')) {
      throw new Error(`hl7-inbound bot answered something other than HL7 ACKs: ${String(JSON.stringify(reply)).slice(0, 200)}`);
    }
    const acks = splitBatch(reply).messages.map((m) => Message.parse(m));
    if (acks.length !== bodies.length) {
      throw new Error(`hl7-inbound bot answered ${acks.length} ACKs for ${bodies.length} messages`);
    }
    return acks.map((ack, i) => {
      const expected = Message.parse(bodies[i]).controlId;
      if (ack.get('MSA-2') !== expected) {
        throw new Error(`ACK ${i + 1} acknowledges ${ack.get('MSA-2')} instead of ${expected}`);
      }
      return { code: normalizeAckCode(ack.get('MSA-1')), errors: errorsOf(ack) };
    });
  }
}
