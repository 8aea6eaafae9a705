import type pg from 'pg';
import { decodeBytes, encodeText } from '../hl7v2/charset.ts';

/** The message log's search: by type, patient identifier, date, status (as the API exposes it). */
export interface LogQuery {
  /** "ADT" (every ADT) or "ADT^A01". */
  type?: string;
  /** A PID-3 value, or "authority|value". */
  patient?: string;
  /** FHIR-style date conditions on the receipt time: "ge2026-01-05", "lt2026-01-06T12:00:00Z", "2026-01-05" (that day). */
  date?: string[];
  status?: string;
  channel?: string;
  /** MSH-10 of the message. */
  control?: string;
  /** MSH-10 of the ACK we sent (a sender asking "what was ACK ES…?"; not indexed). */
  ack?: string;
  count: number;
  offset: number;
}

export interface LogEntry {
  id: string;
  channel: string;
  receivedAt: Date;
  remote: string | null;
  messageType: string;
  controlId: string;
  sendingApplication: string;
  sendingFacility: string;
  messageTime: string | null;
  patientIds: string[];
  status: string;
  ackCode: string;
  ackControlId: string;
  resultCode: string | null;
  error: string | null;
  attempts: number;
  resends: number;
  convertedAt: Date | null;
}

export interface LogDetail extends LogEntry {
  charset: string | null;
  body: string;
  ack: string;
  errorDetail: unknown;
}

export class LogQueryError extends Error {}

const SUMMARY = `id, channel, received_at, remote, message_type, control_id, sending_application, sending_facility, message_time,
  patient_ids, status, ack_code, ack_control_id, result_code, error, attempts, resends, converted_at`;

// biome-ignore lint/suspicious/noExplicitAny: a pg row
function entry(r: any): LogEntry {
  return {
    id: String(r.id),
    channel: r.channel,
    receivedAt: r.received_at,
    remote: r.remote,
    messageType: r.message_type,
    controlId: r.control_id,
    sendingApplication: r.sending_application,
    sendingFacility: r.sending_facility,
    messageTime: r.message_time,
    patientIds: r.patient_ids,
    status: r.status,
    ackCode: r.ack_code,
    ackControlId: r.ack_control_id,
    resultCode: r.result_code,
    error: r.error,
    attempts: r.attempts,
    resends: r.resends,
    convertedAt: r.converted_at,
  };
}

const DATE = /^(eq|ne|ge|gt|le|lt)?(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)$/;

/** Searches the log, newest first. */
export async function searchMessages(pool: pg.Pool, q: LogQuery): Promise<{ entries: LogEntry[]; hasMore: boolean }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (q.type) {
    if (q.type.includes('^')) where.push(`message_type = ${param(q.type)}`);
    else where.push(`(message_type = ${param(q.type)} OR message_type LIKE ${param(`${q.type}^%`)})`);
  }
  if (q.patient) where.push(`patient_ids @> ARRAY[${param(q.patient)}]::text[]`);
  if (q.status) {
    if (!['pending', 'converted', 'error', 'rejected'].includes(q.status))
      throw new LogQueryError(`status must be pending, converted, error or rejected`);
    where.push(`status = ${param(q.status)}`);
  }
  if (q.channel) where.push(`channel = ${param(q.channel)}`);
  if (q.control) where.push(`control_id = ${param(q.control)}`);
  if (q.ack) where.push(`ack_control_id = ${param(q.ack)}`);
  for (const d of q.date ?? []) {
    const m = DATE.exec(d);
    if (!m) throw new LogQueryError(`date "${d}" must be [eq|ne|ge|gt|le|lt]YYYY-MM-DD[Thh:mm[:ss][Z|±hh:mm]]`);
    const prefix = m[1] ?? 'eq';
    const value = m[2];
    const dayOnly = !m[3];
    const start = param(value);
    const end = dayOnly ? `(${start}::date + 1)::timestamptz` : `${start}::timestamptz`;
    switch (prefix) {
      case 'eq':
        where.push(dayOnly ? `received_at >= ${start}::timestamptz AND received_at < ${end}` : `received_at = ${start}::timestamptz`);
        break;
      case 'ne':
        where.push(dayOnly ? `(received_at < ${start}::timestamptz OR received_at >= ${end})` : `received_at <> ${start}::timestamptz`);
        break;
      case 'ge':
        where.push(`received_at >= ${start}::timestamptz`);
        break;
      case 'gt':
        where.push(`received_at >= ${end}`);
        break;
      case 'le':
        where.push(`received_at < ${end}`);
        break;
      case 'lt':
        where.push(`received_at < ${start}::timestamptz`);
        break;
    }
  }
  const { rows } = await pool.query(
    `SELECT ${SUMMARY} FROM hl7.message ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY id DESC LIMIT ${param(q.count + 1)} OFFSET ${param(q.offset)}`,
    params,
  );
  return { entries: rows.slice(0, q.count).map(entry), hasMore: rows.length > q.count };
}

export async function getMessage(pool: pg.Pool, id: string): Promise<LogDetail | undefined> {
  if (!/^\d+$/.test(id)) return undefined;
  const { rows } = await pool.query(`SELECT ${SUMMARY}, charset, body, ack, error_detail FROM hl7.message WHERE id = $1`, [id]);
  const r = rows[0];
  if (!r) return undefined;
  return {
    ...entry(r),
    charset: r.charset,
    body: r.body,
    ack: decodeBytes(r.ack as Buffer, r.charset ?? undefined),
    errorDetail: r.error_detail,
  };
}

/** The bytes as they arrived (to resend them elsewhere, or to inspect a charset problem). */
export async function getRaw(pool: pg.Pool, id: string): Promise<Buffer | undefined> {
  if (!/^\d+$/.test(id)) return undefined;
  const { rows } = await pool.query<{ raw: Buffer | null; body: string; charset: string | null }>(
    'SELECT raw, body, charset FROM hl7.message WHERE id = $1',
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  return row.raw ?? Buffer.from(encodeText(row.body, row.charset ?? undefined));
}
