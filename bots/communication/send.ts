/** Sends a committed Communication's external channels and writes their outcome back. */
import type { MedplumClient } from '@medplum/core';
import type { Communication } from '@medplum/fhirtypes';
import type { ChannelResult } from './channels/channel.ts';
import { type EmailConfig, sendEmail } from './channels/email.ts';
import { type SmsConfig, sendSms } from './channels/sms.ts';
import { deliveriesOf, type ExternalChannel, pendingSends, settle, withDeliveries } from './delivery.ts';
import type { Message } from './message.ts';
import type { Addresses } from './recipients.ts';

/** One bot run: the client, the clock, its attempt id and the project's configured channels. */
export interface Run {
  medplum: MedplumClient;
  now: Date;
  attempt: string;
  channels: { sms?: SmsConfig; email?: EmailConfig };
}

function sendOn(run: Run, channel: ExternalChannel, communication: Communication, message: Message, to: Addresses): Promise<ChannelResult> {
  const address = to[channel];
  if (channel === 'sms') {
    return run.channels.sms && address
      ? sendSms(run.channels.sms, { to: address, body: message.sms })
      : Promise.resolve({ status: 'failed', error: 'sms is no longer configured or addressable' });
  }
  return run.channels.email && address
    ? sendEmail(run.channels.email, {
        to: address,
        subject: message.subject,
        text: message.text,
        customArgs: { communication: communication.id as string },
      })
    : Promise.resolve({ status: 'failed', error: 'email is no longer configured or addressable' });
}

/**
 * Sends the channels this run marked `sending` (SMS and email in parallel), marks those an earlier,
 * interrupted run left `sending` as failed, and saves the outcome with `If-Match`: the
 * Communication then is `completed` (it reached the recipient in the app in any case).
 */
export async function sendPending(run: Run, communication: Communication, message: Message, to: Addresses): Promise<Communication> {
  const deliveries = deliveriesOf(communication);
  const { send, interrupted } = pendingSends(deliveries, run.attempt);
  if (send.length === 0 && interrupted.length === 0) {
    return communication;
  }
  const results: Partial<Record<ExternalChannel, ChannelResult>> = {};
  await Promise.all(
    send.map(async (channel) => {
      results[channel] = await sendOn(run, channel, communication, message, to);
    }),
  );
  const status = communication.status === 'in-progress' ? 'completed' : communication.status;
  const updated = withDeliveries({ ...communication, status }, settle(deliveries, results, interrupted));
  return run.medplum.updateResource(updated, { headers: { 'If-Match': `W/"${communication.meta?.versionId}"` } });
}
