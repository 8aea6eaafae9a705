/**
 * Appointment messages for the communication agent: a confirmation now (an active
 * CommunicationRequest, delivered at once) and a reminder the day before (on-hold with its
 * `occurrenceDateTime`; the scheduling agent's reminder run activates it when due). Requests are
 * `basedOn` the Appointment, so a cancellation or a reschedule can revoke the pending reminder.
 */
import { getStatus, type MedplumClient, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Appointment, CommunicationRequest, Reference } from '@medplum/fhirtypes';
import { COMMUNICATION_CATEGORY_SYSTEM } from '../lib/workflow.ts';

export const REMINDER_LEAD_MS = 24 * 3_600_000;

export type AppointmentNews = 'booked' | 'rescheduled' | 'cancelled';

function when(a: Appointment): string {
  return a.start ? new Date(a.start).toUTCString().replace(':00 GMT', ' UTC') : 'a time to be confirmed';
}

function what(a: Appointment): string {
  return a.serviceType?.[0]?.text ?? a.specialty?.[0]?.text ?? a.description ?? 'your appointment';
}

export function messageText(news: AppointmentNews, a: Appointment): string {
  switch (news) {
    case 'booked':
      return `Your ${what(a)} appointment is booked for ${when(a)}.`;
    case 'rescheduled':
      return `Your ${what(a)} appointment has moved to ${when(a)}.`;
    case 'cancelled':
      return `Your ${what(a)} appointment on ${when(a)} is cancelled. Please contact us to book a new time.`;
  }
}

function patientOf(a: Appointment): Reference | undefined {
  return a.participant?.find((p) => p.actor?.reference?.startsWith('Patient/'))?.actor;
}

function request(a: WithId<Appointment>, text: string, extra: Partial<CommunicationRequest>): CommunicationRequest | undefined {
  const patient = patientOf(a);
  if (!patient) return undefined;
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'appointment' }] }],
    priority: 'routine',
    subject: patient as CommunicationRequest['subject'],
    recipient: [patient as NonNullable<CommunicationRequest['recipient']>[0]],
    basedOn: [{ reference: `Appointment/${a.id}` }],
    authoredOn: new Date().toISOString(),
    payload: [{ contentString: text }],
    ...extra,
  };
}

/** Tells the patient; for a booking or a move also schedules the reminder. Returns what it wrote. */
export async function notifyPatient(
  medplum: MedplumClient,
  a: WithId<Appointment>,
  news: AppointmentNews,
  now = new Date(),
): Promise<string[]> {
  const written: string[] = [];
  if (news !== 'booked') {
    await revokeReminders(medplum, a.id);
  }
  const confirmation = request(a, messageText(news, a), {});
  if (!confirmation) return written;
  written.push(`CommunicationRequest/${(await medplum.createResource(confirmation)).id}`);
  if (news !== 'cancelled' && a.start) {
    const due = new Date(Math.max(now.getTime(), Date.parse(a.start) - REMINDER_LEAD_MS));
    const reminder = request(a, `Reminder: ${messageText('booked', a).replace('is booked for', 'is on')}`, {
      status: 'on-hold',
      occurrenceDateTime: due.toISOString(),
    });
    if (reminder) written.push(`CommunicationRequest/${(await medplum.createResource(reminder)).id}`);
  }
  return written;
}

export async function revokeReminders(medplum: MedplumClient, appointmentId: string): Promise<number> {
  const pending = await medplum.searchResources(
    'CommunicationRequest',
    { 'based-on': `Appointment/${appointmentId}`, status: 'on-hold' },
    { cache: 'no-cache' },
  );
  for (const r of pending) {
    await medplum.updateResource({ ...r, status: 'revoked' });
  }
  return pending.length;
}

/**
 * The reminder run: on-hold reminders whose time has come become active (the communication agent
 * sends them). It runs on the bot's cron schedule (`cronString` in medplum.config.json), on `$execute {"action":"send-due-reminders"}`, and after every scheduling event the
 * bot receives, so reminders go out even where no cron is configured.
 */
export async function sendDueReminders(medplum: MedplumClient, now = new Date()): Promise<{ activated: string[] }> {
  const due = await medplum.searchResources(
    'CommunicationRequest',
    {
      status: 'on-hold',
      category: `${COMMUNICATION_CATEGORY_SYSTEM}|appointment`,
      occurrence: `le${now.toISOString()}`,
      _count: '200',
    },
    { cache: 'no-cache' },
  );
  const activated: string[] = [];
  for (const r of due) {
    // If-Match: a reminder revoked meanwhile (a cancellation) or activated by a concurrent run stays as it is.
    try {
      await medplum.updateResource({ ...r, status: 'active' }, { headers: { 'If-Match': `W/"${r.meta?.versionId}"` } });
      activated.push(`CommunicationRequest/${r.id}`);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError && getStatus(err.outcome) === 412)) throw err;
    }
  }
  return { activated };
}
