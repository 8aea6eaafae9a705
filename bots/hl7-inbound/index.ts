import type { BotEvent, MedplumClient } from '@medplum/core';
import { type AckError, buildAck, ControlIds } from '../../hl7-bridge/hl7v2/ack.ts';
import { splitBatch } from '../../hl7-bridge/hl7v2/batch.ts';
import { Hl7ParseError, type Message } from '../../hl7-bridge/hl7v2/message.ts';
import { validateMessage } from '../../hl7-bridge/hl7v2/validate.ts';
import { planAdt } from './adt.ts';
import { applyPlans } from './apply.ts';
import { planBar, planDft } from './dft.ts';
import { planOru } from './oru.ts';
import { ConversionError, type ConversionOptions, type MessagePlan } from './plan.ts';
import { planSiu } from './siu.ts';

/**
 * The hl7-inbound bot: HL7 v2 in (content type x-application/hl7-v2+er7), FHIR written, HL7 ACKs
 * out. One message, or several one after another (a batch, with or without FHS/BHS), gets one ACK
 * per message in order: AA when converted, AE with ERR segments when the message cannot be
 * converted (the others in the batch still are). Server trouble fails the whole execution, so the
 * caller (the bridge) keeps the messages and tries again. Runs unchanged on a Medplum server.
 *
 * Project secrets: HL7_TIMEZONE (IANA zone or ±hhmm) for times sent without an offset.
 */

const ids = new ControlIds('ESB');

/** Builds the plan for one accepted message, by type. */
export function planMessage(message: Message, options: ConversionOptions): MessagePlan {
  switch (message.type.code) {
    case 'ADT':
      return planAdt(message, options);
    case 'ORU':
      return planOru(message, options);
    case 'SIU':
      return planSiu(message, options);
    case 'DFT':
      return planDft(message, options);
    case 'BAR':
      return planBar(message, options);
    default:
      throw new ConversionError({
        code: '200',
        text: `Message type ${message.type.code} is not supported`,
        location: { segment: 'MSH', field: 9 },
      });
  }
}

interface Outcome {
  message?: Message;
  code: 'AA' | 'AE' | 'AR';
  errors: AckError[];
}

function inputText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (input && typeof input === 'object' && 'toString' in input) return String(input);
  throw new Error('hl7-inbound expects HL7 v2 text (x-application/hl7-v2+er7)');
}

/** Converts every message of the input; returns one outcome per message. */
export async function convert(medplum: MedplumClient, text: string, options: ConversionOptions): Promise<Outcome[]> {
  let messages: string[];
  try {
    messages = splitBatch(text.replace(/\r\n|\n/g, '\r')).messages;
  } catch (err) {
    const e = err instanceof Hl7ParseError ? err : new Hl7ParseError(String(err), '100');
    return [{ code: 'AR', errors: [{ code: e.code, severity: 'E', text: e.message, location: e.location }] }];
  }
  const outcomes: Outcome[] = [];
  const plans: { plan: MessagePlan; index: number }[] = [];
  for (const text of messages) {
    const verdict = validateMessage(text);
    if (verdict.code !== 'AA' || !verdict.message) {
      outcomes.push({ message: verdict.message, code: verdict.code, errors: verdict.errors });
      continue;
    }
    try {
      plans.push({ plan: planMessage(verdict.message, options), index: outcomes.length });
      outcomes.push({ message: verdict.message, code: 'AA', errors: [] });
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err;
      outcomes.push({ message: verdict.message, code: 'AE', errors: [err.error] });
    }
  }
  const results = await applyPlans(
    medplum,
    plans.map((p) => p.plan),
  );
  results.forEach((r, i) => {
    const outcome = outcomes[plans[i].index];
    if (r.ok)
      console.log(`${outcome.message?.typeName} ${outcome.message?.controlId}: ${r.written.length ? r.written.join(', ') : 'nothing new'}`);
    else {
      outcome.code = 'AE';
      outcome.errors = [r.error as AckError];
    }
  });
  return outcomes;
}

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<string> {
  const timezone = (event.secrets?.HL7_TIMEZONE as { valueString?: string } | undefined)?.valueString;
  const outcomes = await convert(medplum, inputText(event.input), { timezone });
  return outcomes
    .map((o) =>
      buildAck(o.message, {
        code: o.code,
        controlId: ids.next(),
        errors: o.errors,
        identity: { application: 'EMERGISPHERE', facility: 'HL7-INBOUND' },
      }),
    )
    .join('');
}
