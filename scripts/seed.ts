/**
 * `npm run seed`: loads the hospital of `seed/` (charge catalog, clinics, specialists, schedules)
 * into a server and generates the schedules' free Slots for a range of days:
 *
 *   MEDPLUM_BASE_URL=http://localhost:8103/ MEDPLUM_CLIENT_ID=... MEDPLUM_CLIENT_SECRET=... \
 *     npm run seed -- [--from 2025-03-03] [--days 14] [--patients 300] [--seed 42]
 *
 * Besides the files it writes synthetic patients with histories and the ED's devices
 * (scripts/seed-patients.ts), reproducible from `--seed`.
 *
 * Idempotent: every seed resource has an identifier and is written with a conditional update
 * (`PUT Type?identifier=…`), every Slot with a conditional create on its identifier, so running
 * it again changes nothing (and never frees a slot that was booked meanwhile). References in the
 * seed files may be conditional (`Practitioner?identifier=system|value`); they are resolved to
 * the ids of the resources written before them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MedplumClient } from '@medplum/core';
import type {
  Bundle,
  Device,
  HealthcareService,
  Organization,
  Period,
  PractitionerRole,
  PractitionerRoleAvailableTime,
  Reference,
  Resource,
  Schedule,
} from '@medplum/fhirtypes';
import { generateSlots, recurringBlocks, SLOT_MINUTES_EXTENSION, TIMEZONE_EXTENSION } from '../bots/scheduling/slots.ts';
import { clientFromEnv } from './lib/env-client.ts';
import { patientKey, SEED_SYSTEM, SYNTHETIC_SYSTEM, seedDevices, syntheticBundles, syntheticPatient } from './seed-patients.ts';

/** Load order: files are read in this order, then any other JSON file alphabetically. */
const FILE_ORDER = ['clinics.json', 'charge-catalog.json'];
const SLOT_BATCH = 200;

export interface SeedOptions {
  dir: string;
  /** First day of slots (YYYY-MM-DD, the clinics' local day); default today. */
  from?: string;
  /** Number of days of slots; default 14 (0: no slots). */
  days?: number;
  /** Synthetic patients with histories (scripts/seed-patients.ts); default 300 (0: none). */
  patients?: number;
  /** The seed number of the synthetic patients; default 42. */
  patientSeed?: number;
  log?: (line: string) => void;
}

export interface SeedResult {
  resources: number;
  /** resourceType/identifier value → id */
  ids: Map<string, string>;
  slotsCreated: number;
  slotsExisting: number;
  /** Synthetic patient-history and device resources created by this run / found already there. */
  syntheticCreated: number;
  syntheticExisting: number;
}

function identifierQuery(resource: Resource): string {
  const id = (resource as { identifier?: { system?: string; value?: string }[] }).identifier?.[0];
  if (!id?.system || !id.value) {
    throw new Error(`seed: every resource needs an identifier (${resource.resourceType} ${JSON.stringify(resource).slice(0, 80)})`);
  }
  return `identifier=${encodeURIComponent(`${id.system}|${id.value}`)}`;
}

/** Replaces conditional references (`Type?identifier=…`) with literal ones, recursively. */
function resolveReferences<T>(value: T, known: Map<string, string>): T {
  if (Array.isArray(value)) return value.map((v) => resolveReferences(v, known)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string' && v.includes('?identifier=')) {
        const id = known.get(v);
        if (!id) throw new Error(`seed: ${v} is referenced before it is loaded`);
        out[k] = id;
      } else {
        out[k] = resolveReferences(v, known);
      }
    }
    return out as T;
  }
  return value;
}

function seedFiles(dir: string): string[] {
  const all = readdirSync(dir).filter((f) => f.endsWith('.json'));
  return [...FILE_ORDER.filter((f) => all.includes(f)), ...all.filter((f) => !FILE_ORDER.includes(f)).sort()];
}

function today(timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

async function writeSlots(
  medplum: MedplumClient,
  schedule: Schedule,
  options: SeedOptions,
): Promise<{ created: number; existing: number }> {
  const actorRef = schedule.actor?.find((a) => /^(PractitionerRole|HealthcareService)\//.test(a.reference ?? ''));
  if (!actorRef) return { created: 0, existing: 0 };
  const actor = await medplum.readReference(actorRef as Reference<PractitionerRole | HealthcareService>);
  const timeZone = schedule.extension?.find((e) => e.url === TIMEZONE_EXTENSION)?.valueCode ?? 'UTC';
  const from = options.from ?? today(timeZone);
  const days = options.days ?? 14;
  if (days <= 0) return { created: 0, existing: 0 };
  const slots = generateSlots({
    schedule: { reference: `Schedule/${schedule.id}` },
    scheduleKey: schedule.identifier?.[0]?.value ?? (schedule.id as string),
    specialty: schedule.specialty,
    serviceType: schedule.serviceType,
    availableTime: (actor.availableTime ?? []) as PractitionerRoleAvailableTime[],
    blocked: recurringBlocks(schedule.extension),
    notAvailable: (actor.notAvailable ?? []).map((n) => n.during).filter((p): p is Period => !!p),
    slotMinutes: schedule.extension?.find((e) => e.url === SLOT_MINUTES_EXTENSION)?.valueInteger ?? 30,
    timeZone,
    from,
    to: addDays(from, days - 1),
  });
  let created = 0;
  let existing = 0;
  for (let i = 0; i < slots.length; i += SLOT_BATCH) {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: slots.slice(i, i + SLOT_BATCH).map((slot) => ({
        resource: slot,
        request: { method: 'POST', url: 'Slot', ifNoneExist: identifierQuery(slot) },
      })),
    };
    const reply = await medplum.executeBatch(bundle);
    for (const entry of reply.entry ?? []) {
      const status = entry.response?.status ?? '';
      if (status.startsWith('201')) created++;
      else if (status.startsWith('200')) existing++;
      else throw new Error(`seed: a slot was refused: ${status} ${JSON.stringify(entry.response?.outcome ?? {})}`);
    }
  }
  return { created, existing };
}

/** Loads `options.dir` into the server behind `medplum` (see the module comment). */
export async function seed(medplum: MedplumClient, options: SeedOptions): Promise<SeedResult> {
  const log = options.log ?? (() => undefined);
  const known = new Map<string, string>();
  const ids = new Map<string, string>();
  const schedules: Schedule[] = [];
  let count = 0;
  for (const file of seedFiles(options.dir)) {
    const resources = JSON.parse(readFileSync(join(options.dir, file), 'utf8')) as Resource[];
    for (const raw of resources) {
      const query = identifierQuery(raw);
      const resource = resolveReferences(raw, known);
      const written = await medplum.upsertResource(resource, query);
      const key = `${resource.resourceType}?${decodeURIComponent(query)}`;
      known.set(key, `${resource.resourceType}/${written.id}`);
      ids.set(`${resource.resourceType}/${decodeURIComponent(query).split('|').pop()}`, written.id as string);
      if (written.resourceType === 'Schedule') schedules.push(written);
      count++;
    }
    log(`${file}: ${resources.length} resource(s)`);
  }
  let slotsCreated = 0;
  let slotsExisting = 0;
  for (const schedule of schedules) {
    const r = await writeSlots(medplum, schedule, options);
    slotsCreated += r.created;
    slotsExisting += r.existing;
  }
  log(`slots: ${slotsCreated} created, ${slotsExisting} already there`);
  const synthetic = await writeSynthetic(medplum, options, known);
  log(`patients and devices: ${synthetic.created} resource(s) created, ${synthetic.existing} already there`);
  return { resources: count, ids, slotsCreated, slotsExisting, syntheticCreated: synthetic.created, syntheticExisting: synthetic.existing };
}

function countReplies(reply: Bundle, tally: { created: number; existing: number }): void {
  for (const entry of reply.entry ?? []) {
    const status = entry.response?.status ?? '';
    if (status.startsWith('201')) tally.created++;
    else if (status.startsWith('200')) tally.existing++;
    else throw new Error(`seed: a resource was refused: ${status} ${JSON.stringify(entry.response?.outcome ?? {})}`);
  }
}

/**
 * The synthetic patients (one transaction per 25 patients: a patient and its history are written
 * together or not at all, so a patient found by its identifier is skipped with its history) and
 * the devices (conditional creates). A rerun creates nothing.
 */
async function writeSynthetic(
  medplum: MedplumClient,
  options: SeedOptions,
  known: Map<string, string>,
): Promise<{ created: number; existing: number }> {
  const tally = { created: 0, existing: 0 };
  const count = options.patients ?? 300;
  const patientSeed = options.patientSeed ?? 42;
  const present = new Set<string>();
  for (let start = 0; start < count; start += 100) {
    const keys = Array.from(
      { length: Math.min(100, count - start) },
      (_, k) => `${SYNTHETIC_SYSTEM}|${patientKey(patientSeed, start + k)}`,
    );
    const found = await medplum.searchResources('Patient', { identifier: keys.join(','), _count: '100', _elements: 'identifier' });
    for (const p of found) for (const id of p.identifier ?? []) if (id.system === SYNTHETIC_SYSTEM && id.value) present.add(id.value);
  }
  for (let i = 0; i < count; i++) {
    if (present.has(patientKey(patientSeed, i))) tally.existing += syntheticPatient(patientSeed, i).length;
  }
  for (const bundle of syntheticBundles({ seed: patientSeed, count }, (i) => !present.has(patientKey(patientSeed, i)))) {
    countReplies(await medplum.executeBatch(bundle), tally);
  }
  const hospital = known.get(`Organization?identifier=${SEED_SYSTEM}|hospital`);
  if (!hospital) return tally;
  const devices = seedDevices(patientSeed, { reference: hospital } as Reference<Organization>, Math.min(3, count));
  for (const entry of devices) {
    const device = entry.resource as Device;
    const ref = device.patient?.reference;
    if (ref?.startsWith('Patient?')) {
      const patient = await medplum.searchOne('Patient', ref.slice('Patient?'.length));
      device.patient = patient ? { reference: `Patient/${patient.id}` } : undefined;
    }
  }
  countReplies(await medplum.executeBatch({ resourceType: 'Bundle', type: 'batch', entry: devices }), tally);
  return tally;
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const medplum = await clientFromEnv();
  const args = process.argv.slice(2);
  const from = argValue(args, '--from');
  if (from && !/^\d{4}-\d{2}-\d{2}$/.test(from)) throw new Error('--from must be YYYY-MM-DD');
  const days = argValue(args, '--days');
  const patients = argValue(args, '--patients');
  const patientSeed = argValue(args, '--seed');
  for (const [name, v] of [
    ['--patients', patients],
    ['--seed', patientSeed],
  ]) {
    if (v !== undefined && !/^\d+$/.test(v)) throw new Error(`${name} must be a non-negative integer`);
  }
  await seed(medplum, {
    dir: resolve(process.cwd(), 'seed'),
    from,
    days: days === undefined ? undefined : Number(days),
    patients: patients === undefined ? undefined : Number(patients),
    patientSeed: patientSeed === undefined ? undefined : Number(patientSeed),
    log: (line) => process.stdout.write(`${line}\n`),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
