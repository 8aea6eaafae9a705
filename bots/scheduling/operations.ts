/**
 * The scheduling operations: `Slot/$find` (GET with query parameters or POST Parameters),
 * `Appointment/$book` and `Appointment/$reschedule` (POST Parameters). Bad input is answered with
 * a 400 OperationOutcome naming the parameter, a lost slot with 409 and the next free slots.
 */
import { badRequest, type MedplumClient } from '@medplum/core';
import type { Bundle, OperationOutcome, Parameters, ParametersParameter, Reference, Resource } from '@medplum/fhirtypes';
import { bookSlot, reschedule } from './book.ts';
import { BadRequest, findFreeSlots, parseCount, window } from './find.ts';
import { notifyPatient } from './notify.ts';

type Input = Record<string, unknown>;

/** Parameters (or a plain query object) as name → first value. */
export function inputValues(input: unknown): Input {
  const body = input as Resource | Input | undefined;
  if ((body as Resource)?.resourceType === 'Parameters') {
    const out: Input = {};
    for (const p of ((body as Parameters).parameter ?? []) as ParametersParameter[]) {
      if (!p.name || p.name in out) continue;
      const entry = Object.entries(p).find(([k]) => k.startsWith('value'));
      out[p.name] = entry?.[1];
    }
    return out;
  }
  return { ...(body as Input) };
}

function text(values: Input, name: string): string | undefined {
  const v = values[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (Array.isArray(v)) return text({ [name]: v[0] }, name);
  if (typeof v !== 'string' && typeof v !== 'number') throw new BadRequest(`Parameter "${name}" must be a string`);
  return String(v);
}

function reference(values: Input, name: string, type: string): string {
  const v = values[name];
  const ref = typeof v === 'string' ? v : (v as Reference | undefined)?.reference;
  if (!ref) throw new BadRequest(`Parameter "${name}" (a ${type} reference) is required`);
  const m = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(ref);
  if (!m) throw new BadRequest(`Parameter "${name}" must reference a ${type} (${type}/id), got "${ref}"`);
  return m[1];
}

export async function find(medplum: MedplumClient, values: Input): Promise<Bundle> {
  const win = window({ start: text(values, 'start'), end: text(values, 'end'), urgency: text(values, 'urgency') });
  const slots = await findFreeSlots(medplum, {
    specialty: text(values, 'specialty'),
    start: win.start,
    end: win.end,
    count: parseCount(values.count ?? values._count),
  });
  return { resourceType: 'Bundle', type: 'searchset', total: slots.length, entry: slots.map((resource) => ({ resource })) };
}

export async function book(medplum: MedplumClient, values: Input): Promise<Resource> {
  const slot = reference(values, 'slot', 'Slot');
  const patient = reference(values, 'patient', 'Patient');
  const basedOn = values.basedOn ?? values.request;
  const result = await bookSlot(medplum, {
    slot,
    patient: { reference: `Patient/${patient}` },
    basedOn: basedOn ? [{ reference: `ServiceRequest/${reference({ r: basedOn }, 'r', 'ServiceRequest')}` }] : undefined,
    reason: text(values, 'reason'),
  });
  if ('conflict' in result) return result.conflict;
  await notifyPatient(medplum, result.appointment, 'booked');
  return result.appointment;
}

export async function move(medplum: MedplumClient, values: Input): Promise<Resource> {
  const result = await reschedule(medplum, reference(values, 'appointment', 'Appointment'), reference(values, 'slot', 'Slot'));
  if ('conflict' in result) return result.conflict;
  await notifyPatient(medplum, result.appointment, 'rescheduled');
  return result.appointment;
}

/** Runs one operation; a BadRequest becomes a 400 OperationOutcome. */
export async function runOperation(run: () => Promise<Resource>): Promise<Resource | OperationOutcome> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof BadRequest) return badRequest(err.message);
    throw err;
  }
}
