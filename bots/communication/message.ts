/**
 * The texts of external messages (SMS, email). They leave the hospital over channels it does not
 * control, so they carry the least that does the job: never a patient identifier; clinical
 * content only to staff; to family nothing but "there is an update" (the details wait behind a
 * sign-in); to the patient their own appointment and billing notes. The in-app Communication
 * holds the full request payload for whoever may read it.
 */
import type { CommunicationRequest } from '@medplum/fhirtypes';
import type { Category } from './codes.ts';
import { type Audience, categoryOf } from './recipients.ts';

export interface Message {
  sms: string;
  subject: string;
  text: string;
}

export interface MessageInput {
  request: CommunicationRequest;
  audience: Audience;
  /** Escalation level of a page (0 = first page). */
  level: number;
  /** The patient's given name, for family updates only. */
  patientGivenName?: string;
}

/** Two SMS segments: long enough for a page's reason and detail, short enough to read at a glance. */
export const SMS_MAX = 306;

const PRIORITY_LABEL: Record<string, string> = { stat: 'STAT', asap: 'ASAP', urgent: 'URGENT' };
const STAFF_TITLE: Record<Category, string> = {
  page: 'ED page',
  'staff-notice': 'ED notice',
  'family-update': 'ED family update',
  appointment: 'ED appointment',
  payment: 'ED billing',
};

const ASCII_FOR: Record<string, string> = { '°': ' deg ', '–': '-', '—': '-', '…': '...', '‘': "'", '’': "'", '“': '"', '”': '"' };

/**
 * Plain ASCII, clipped: one character outside the GSM 7-bit alphabet (…, –, °) makes carriers
 * send the whole SMS in 67-character segments. Compatibility forms first (SpO₂ → SpO2, é → e).
 */
function smsText(text: string, max: number): string {
  const t = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e\s]/g, (c) => ASCII_FOR[c] ?? '?')
    .replace(/\s+/g, ' ')
    .trim();
  return t.length <= max ? t : `${t.slice(0, max - 3).trimEnd()}...`;
}

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, max - 3).trimEnd()}...`;
}

function reasonOf(request: CommunicationRequest): string | undefined {
  const reason = request.reasonCode?.[0];
  return reason?.text ?? reason?.coding?.find((c) => c.display)?.display ?? reason?.coding?.[0]?.code;
}

function payloadText(request: CommunicationRequest): string {
  return (request.payload ?? [])
    .map((p) => p.contentString?.trim())
    .filter(Boolean)
    .join('\n');
}

function staffMessage(request: CommunicationRequest, level: number): Message {
  const category = categoryOf(request);
  const priority = request.priority ? PRIORITY_LABEL[request.priority] : undefined;
  const reason = reasonOf(request);
  const tags = [priority, level > 0 ? 'ESCALATED' : undefined].filter(Boolean).map((t) => `[${t}]`);
  const title = [...tags, `${STAFF_TITLE[category]}${reason ? `: ${reason}` : ''}`].join(' ');
  const body = payloadText(request);
  const ask = category === 'page' ? 'Acknowledge in EmergiSphere.' : '';
  const escalated = level > 0 ? 'Sent on because the first page was not acknowledged.' : '';
  return {
    sms: smsText([`${title}.`, body, ask].filter(Boolean).join(' '), SMS_MAX),
    subject: oneLine(title, 120),
    text: [title, body, escalated, category === 'page' ? 'Please acknowledge this page in EmergiSphere.' : ''].filter(Boolean).join('\n\n'),
  };
}

function familyMessage(patientGivenName: string | undefined): Message {
  const who = patientGivenName?.trim() || 'your family member';
  const line = `EmergiSphere: there is an update about ${who} from the Emergency Department. Please sign in to the family portal or call the department for details.`;
  return {
    sms: line,
    subject: 'An update from the Emergency Department',
    text: `${line}\n\nFor privacy, messages outside the portal carry no medical details.`,
  };
}

function patientMessage(request: CommunicationRequest): Message {
  const category = categoryOf(request);
  const body = payloadText(request);
  if ((category === 'appointment' || category === 'payment') && body) {
    const subject = category === 'appointment' ? 'Your appointment' : 'Your bill';
    return { sms: smsText(`EmergiSphere - ${subject.toLowerCase()}: ${body}`, SMS_MAX), subject, text: body };
  }
  const line = 'EmergiSphere: you have a new message from the Emergency Department. Please sign in to read it.';
  return { sms: line, subject: 'A new message from the Emergency Department', text: line };
}

export function composeMessage(input: MessageInput): Message {
  switch (input.audience) {
    case 'staff':
      return staffMessage(input.request, input.level);
    case 'family':
      return familyMessage(input.patientGivenName);
    case 'patient':
      return patientMessage(input.request);
  }
}
