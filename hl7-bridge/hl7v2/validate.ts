import type { AckError } from './ack.ts';
import { isSupportedCharset } from './charset.ts';
import { isValidDtm } from './datetime.ts';
import { type Hl7Location, Hl7ParseError, Message, type Segment } from './message.ts';

/**
 * The AA / AE / AR decision for one inbound message, made before anything is stored or converted:
 *   AR — we cannot or will not process it: not HL7, bad encoding characters, unknown version,
 *        charset, processing id or message type, a sender this channel does not accept;
 *   AE — it is a supported message but breaks the rules we rely on: a required segment or field is
 *        missing, a date, number or coded value is malformed (each problem → one ERR segment);
 *   AA — everything else.
 */

export const SUPPORTED_VERSIONS = ['2.1', '2.2', '2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2'];

/** The message types the hl7-inbound bot converts. */
export const SUPPORTED_TYPES = [
  'ADT^A01',
  'ADT^A02',
  'ADT^A03',
  'ADT^A04',
  'ADT^A08',
  'ADT^A11',
  'ADT^A13',
  'ADT^A40',
  'ORU^R01',
  'SIU^S12',
  'SIU^S13',
  'SIU^S14',
  'SIU^S15',
  'SIU^S26',
  'DFT^P03',
  'BAR^P01',
];

export interface Sender {
  /** MSH-3.1 (namespace id); omitted = any. */
  application?: string;
  /** MSH-4.1; omitted = any. */
  facility?: string;
}

export interface ValidationPolicy {
  /** "ADT^A01" style names; default SUPPORTED_TYPES. */
  messageTypes?: string[];
  versions?: string[];
  /** MSH-11.1 values accepted (P production, T training, D debugging); default any. */
  processingIds?: string[];
  /** Senders accepted by MSH-3/MSH-4; default any. */
  allowedSenders?: Sender[];
}

export interface Verdict {
  code: 'AA' | 'AE' | 'AR';
  errors: AckError[];
  /** The parsed message, unless it could not be parsed. */
  message?: Message;
}

interface FieldRule {
  field: number;
  /** Required (at least one repetition with a first component). */
  required?: boolean;
  /** Each repetition's first component must be a DTM. */
  dtm?: boolean;
  /** The first component must be one of these codes. */
  table?: readonly string[];
  tableName?: string;
}

interface SegmentRule {
  segment: string;
  required: boolean;
  fields?: FieldRule[];
}

const OBSERVATION_STATUS = ['C', 'D', 'F', 'I', 'N', 'O', 'P', 'R', 'S', 'U', 'W', 'X', 'A'] as const;
const PATIENT_CLASS = ['E', 'I', 'O', 'P', 'R', 'B', 'C', 'N', 'U'] as const;

const PID_RULES: FieldRule[] = [
  { field: 3, required: true },
  { field: 7, dtm: true },
  { field: 29, dtm: true },
];
const PV1_RULES: FieldRule[] = [
  { field: 2, required: true, table: PATIENT_CLASS, tableName: 'HL70004' },
  { field: 44, dtm: true },
  { field: 45, dtm: true },
];

function adt(extra: SegmentRule[] = [], pidRequiredName = true): SegmentRule[] {
  return [
    { segment: 'EVN', required: false, fields: [{ field: 2, dtm: true }] },
    { segment: 'PID', required: true, fields: pidRequiredName ? [...PID_RULES, { field: 5, required: true }] : PID_RULES },
    ...extra,
  ];
}

/** What each supported message must contain (beyond MSH), by "CODE^EVENT". */
const STRUCTURES: Record<string, SegmentRule[]> = {
  'ADT^A01': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }]),
  'ADT^A02': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }], false),
  'ADT^A03': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }], false),
  'ADT^A04': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }]),
  'ADT^A08': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }]),
  'ADT^A11': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }], false),
  'ADT^A13': adt([{ segment: 'PV1', required: true, fields: PV1_RULES }], false),
  'ADT^A40': adt([{ segment: 'MRG', required: true, fields: [{ field: 1, required: true }] }], false),
  'ORU^R01': [
    { segment: 'PID', required: true, fields: PID_RULES },
    {
      segment: 'OBR',
      required: true,
      fields: [
        { field: 4, required: true },
        { field: 7, dtm: true },
        { field: 22, dtm: true },
      ],
    },
    {
      segment: 'OBX',
      required: false,
      fields: [
        { field: 3, required: true },
        { field: 11, required: true, table: OBSERVATION_STATUS, tableName: 'HL70085' },
        { field: 14, dtm: true },
      ],
    },
  ],
  'SIU^S12': siu(),
  'SIU^S13': siu(),
  'SIU^S14': siu(),
  'SIU^S15': siu(),
  'SIU^S26': siu(),
  'DFT^P03': [
    { segment: 'EVN', required: false },
    { segment: 'PID', required: true, fields: PID_RULES },
    {
      segment: 'FT1',
      required: true,
      fields: [
        { field: 4, required: true, dtm: true },
        { field: 6, required: true },
        { field: 7, required: true },
      ],
    },
  ],
  'BAR^P01': [
    { segment: 'EVN', required: false },
    { segment: 'PID', required: true, fields: [...PID_RULES, { field: 18, required: true }] },
  ],
};

function siu(): SegmentRule[] {
  return [
    { segment: 'SCH', required: true },
    { segment: 'PID', required: true, fields: PID_RULES },
    { segment: 'AIS', required: false, fields: [{ field: 4, dtm: true }] },
  ];
}

function error(code: string, text: string, location?: Hl7Location): AckError {
  return { code, severity: 'E', text, location };
}

function checkSegment(msg: Message, rule: SegmentRule, errors: AckError[]): void {
  const segments = msg.all(rule.segment);
  if (segments.length === 0) {
    if (rule.required) errors.push(error('100', `Required segment ${rule.segment} is missing`, { segment: rule.segment }));
    return;
  }
  segments.forEach((seg, i) => {
    for (const f of rule.fields ?? []) checkField(seg, i + 1, f, errors);
  });
}

function checkField(seg: Segment, sequence: number, rule: FieldRule, errors: AckError[]): void {
  const location = { segment: seg.name, sequence, field: rule.field };
  const reps = seg.reps(rule.field).filter((r) => !r.empty && !r.isNull);
  if (reps.length === 0 || reps.every((r) => r.c(1) === '')) {
    if (rule.required) errors.push(error('101', `${seg.name}-${rule.field} is required`, location));
    return;
  }
  reps.forEach((r, i) => {
    const value = r.c(1);
    if (rule.dtm && value && !isValidDtm(value)) {
      errors.push(error('102', `${seg.name}-${rule.field} "${value}" is not a valid date/time (DTM)`, { ...location, repetition: i + 1 }));
    }
    if (rule.table && value && !rule.table.includes(value.toUpperCase())) {
      errors.push(
        error('103', `${seg.name}-${rule.field} "${value}" is not in table ${rule.tableName}`, { ...location, repetition: i + 1 }),
      );
    }
  });
}

/** OBX-5 must match OBX-2: numbers for NM, a DTM for DT/DTM. */
function checkObservationValues(msg: Message, errors: AckError[]): void {
  msg.all('OBX').forEach((obx, i) => {
    const type = obx.value(2).toUpperCase();
    for (const [r, rep] of obx.reps(5).entries()) {
      if (rep.empty || rep.isNull) continue;
      const v = rep.c(1).trim();
      const location = { segment: 'OBX', sequence: i + 1, field: 5, repetition: r + 1 };
      if (type === 'NM' && v !== '' && !/^[+-]?(\d+\.?\d*|\.\d+)$/.test(v)) {
        errors.push(error('102', `OBX-5 "${v}" is not a number (OBX-2 is NM)`, location));
      } else if ((type === 'DT' || type === 'DTM' || type === 'TS') && v !== '' && !isValidDtm(v)) {
        errors.push(error('102', `OBX-5 "${v}" is not a valid date/time (OBX-2 is ${type})`, location));
      }
    }
    if (obx.reps(5).some((r) => !r.empty) && !type) {
      errors.push(error('101', 'OBX-2 (value type) is required when OBX-5 is valued', { segment: 'OBX', sequence: i + 1, field: 2 }));
    }
  });
}

function senderAllowed(msg: Message, allowed: Sender[] | undefined): boolean {
  if (!allowed || allowed.length === 0) return true;
  const app = msg.header.value(3);
  const facility = msg.header.value(4);
  return allowed.some((s) => (!s.application || s.application === app) && (!s.facility || s.facility === facility));
}

/** Parses and checks one message; see the module comment for what AR and AE mean. */
export function validateMessage(text: string, policy: ValidationPolicy = {}): Verdict {
  let msg: Message;
  try {
    msg = Message.parse(text);
  } catch (err) {
    if (err instanceof Hl7ParseError) {
      return { code: 'AR', errors: [error(err.code, err.message, err.location)] };
    }
    throw err;
  }
  const reject = (code: string, text: string, location?: Hl7Location): Verdict => ({
    code: 'AR',
    errors: [error(code, text, location)],
    message: msg,
  });
  const h = msg.header;
  const at = (field: number): Hl7Location => ({ segment: 'MSH', sequence: 1, field });
  if (!h.value(9)) return reject('101', 'MSH-9 (message type) is required', at(9));
  if (!h.value(10)) return reject('101', 'MSH-10 (message control id) is required', at(10));
  if (!h.value(11)) return reject('101', 'MSH-11 (processing id) is required', at(11));
  const version = h.value(12);
  if (!version) return reject('101', 'MSH-12 (version id) is required', at(12));
  if (!(policy.versions ?? SUPPORTED_VERSIONS).includes(version)) {
    return reject('203', `HL7 version ${version} is not supported`, at(12));
  }
  const processing = h.value(11);
  if (policy.processingIds?.length && !policy.processingIds.includes(processing)) {
    return reject('202', `Processing id ${processing} is not accepted on this channel`, at(11));
  }
  const charset = h.rep(18).c(1);
  if (charset && !isSupportedCharset(charset)) {
    return reject('103', `Character set "${charset}" (MSH-18) is not supported`, at(18));
  }
  if (!isValidDtm(h.value(7))) {
    return reject('102', `MSH-7 "${h.value(7)}" is not a valid date/time`, at(7));
  }
  if (!senderAllowed(msg, policy.allowedSenders)) {
    return reject('207', `Sender ${h.value(3)}^${h.value(4)} is not allowed on this channel`, at(3));
  }
  const { code, event } = msg.type;
  const types = policy.messageTypes ?? SUPPORTED_TYPES;
  if (!types.some((t) => t.split('^')[0] === code)) {
    return reject('200', `Message type ${code} is not supported`, { ...at(9), component: 1 });
  }
  const name = `${code}^${event}`;
  if (!types.includes(name)) {
    return reject('201', `Event ${name} is not supported`, { ...at(9), component: 2 });
  }
  const errors: AckError[] = [];
  for (const rule of STRUCTURES[name] ?? []) checkSegment(msg, rule, errors);
  if (code === 'ORU') checkObservationValues(msg, errors);
  return { code: errors.length ? 'AE' : 'AA', errors, message: msg };
}
