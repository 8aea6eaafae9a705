import type { Appointment, AppointmentParticipant, Identifier } from '@medplum/fhirtypes';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';
import { eiToIdentifier } from './datatypes/ei.ts';
import { patientFromPid, withDefaultSystem } from './pid.ts';
import {
  ConversionError,
  type ConversionOptions,
  localRef,
  type MessagePlan,
  messageInstant,
  sourceOf,
  type Upsert,
  upsertKey,
} from './plan.ts';
import { locationRef, practitionerRef } from './pv1.ts';

/** SCH-25 filler status (HL7 table 0278) → Appointment.status (IG FillerStatusCodes[Appointment]). */
const FILLER_STATUS: Record<string, Appointment['status']> = {
  PENDING: 'pending',
  WAITLIST: 'waitlist',
  BOOKED: 'booked',
  STARTED: 'checked-in',
  COMPLETE: 'fulfilled',
  CANCELLED: 'cancelled',
  DELETED: 'entered-in-error',
  NOSHOW: 'noshow',
};

/** The event decides for cancellations and no-shows; otherwise SCH-25, else booked. */
export function appointmentStatus(event: string, fillerStatus: string): Appointment['status'] {
  if (event === 'S15') return 'cancelled';
  if (event === 'S26') return 'noshow';
  return FILLER_STATUS[fillerStatus.toUpperCase()] ?? 'booked';
}

function minutes(amount: string, units: string): number | undefined {
  const n = Number(amount);
  if (!amount || !Number.isFinite(n) || n <= 0) return undefined;
  const u = units.toUpperCase();
  if (u.startsWith('H')) return n * 60;
  if (u.startsWith('S')) return Math.max(1, Math.round(n / 60));
  if (u.startsWith('D')) return n * 1440;
  return n;
}

/** Start and end: TQ1-7/8, else SCH-11.4/.5 (TQ), else AIS-4 plus the duration. */
function timing(
  message: Message,
  sch: Segment,
  timezone: string | undefined,
  duration: number | undefined,
): { start?: string; end?: string } {
  const tq1 = message.segment('TQ1');
  const ais = message.segment('AIS');
  const startText = tq1?.value(7) || sch.value(11, 4) || ais?.value(4) || '';
  const endText = tq1?.value(8) || sch.value(11, 5) || '';
  const start = startText ? dtmToFhirDateTime(startText, timezone) : undefined;
  let end = endText ? dtmToFhirDateTime(endText, timezone) : undefined;
  if (start && !end && duration) end = addMinutes(start, duration);
  return { start, end };
}

/** A FHIR dateTime plus some minutes, in the same offset. */
export function addMinutes(dateTime: string, minutes: number): string | undefined {
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(dateTime);
  const offsetMinutes = offset ? (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) : 0;
  const wall = new Date(new Date(dateTime).getTime() + (minutes + offsetMinutes) * 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const dtm = `${wall.toISOString().replace(/[-:T]/g, '').slice(0, 14)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return dtmToFhirDateTime(dtm);
}

/**
 * SIU S12 (new), S13 (rescheduled), S14 (modified), S15 (cancelled), S26 (no-show) → Appointment
 * (IG SCH[Appointment], AIS/AIP/AIL[Appointment]), keyed by the filler appointment id SCH-2 (else the
 * placer's SCH-1). The patient is created when unknown, never changed.
 */
export function planSiu(message: Message, options: ConversionOptions = {}): MessagePlan {
  const { timezone } = options;
  const sch = message.segment('SCH') as Segment;
  const filler = withDefaultSystem(eiToIdentifier(sch.rep(2), 'FILL'), message);
  const placer = withDefaultSystem(eiToIdentifier(sch.rep(1), 'PLAC'), message);
  const key: Identifier | undefined = filler ?? placer;
  if (!key)
    throw new ConversionError({
      code: '101',
      text: 'SCH-2 (filler appointment id) or SCH-1 (placer appointment id) is required',
      location: { segment: 'SCH', sequence: 1, field: 2 },
    });
  const upserts: Upsert[] = [];
  const patient = patientFromPid(message, 'create-only', options);
  upserts.push(patient);
  const ais = message.segment('AIS');
  const duration = minutes(sch.value(9), sch.value(10)) ?? (ais ? minutes(ais.value(7), ais.value(8)) : undefined);
  const { start, end } = timing(message, sch, timezone, duration);
  const participant: AppointmentParticipant[] = [{ actor: localRef(patient.key), status: 'accepted' }];
  for (const aip of message.all('AIP')) {
    const actor = practitionerRef(aip.rep(3), message, upserts);
    const role = cweToCodeableConcept(aip.rep(4));
    if (actor) participant.push({ actor: actor as AppointmentParticipant['actor'], status: 'accepted', ...(role ? { type: [role] } : {}) });
  }
  for (const ail of message.all('AIL')) {
    const actor = locationRef(ail.rep(3), upserts);
    if (actor) participant.push({ actor: actor as AppointmentParticipant['actor'], status: 'accepted' });
  }
  for (const aig of message.all('AIG')) {
    const name = aig.value(3, 2) || aig.value(3);
    if (name) participant.push({ actor: { display: name }, status: 'accepted' });
  }
  const status = appointmentStatus(message.type.event, sch.value(25));
  const reason = cweToCodeableConcept(sch.rep(7));
  const type = cweToCodeableConcept(sch.rep(8));
  const serviceType = ais ? cweToCodeableConcept(ais.rep(3)) : undefined;
  const cancelation = status === 'cancelled' ? cweToCodeableConcept(sch.rep(6)) : undefined;
  const appointment: Appointment = {
    resourceType: 'Appointment',
    identifier: [key, ...(filler && placer && placer.value !== filler.value ? [placer] : [])],
    status,
    participant,
    ...(start ? { start } : {}),
    ...(end ? { end } : {}),
    ...(duration ? { minutesDuration: duration } : {}),
    ...(reason ? { reasonCode: [reason] } : {}),
    ...(type ? { appointmentType: type } : {}),
    ...(serviceType ? { serviceType: [serviceType] } : {}),
    ...(cancelation ? { cancelationReason: cancelation } : {}),
    ...(reason?.text || reason?.coding?.[0]?.display ? { description: reason.text ?? reason.coding?.[0]?.display } : {}),
  };
  upserts.push({ key: upsertKey('Appointment', key), resourceType: 'Appointment', identifier: key, resource: appointment, mode: 'merge' });
  return { message, source: sourceOf(message), messageTime: messageInstant(message, timezone), upserts };
}
