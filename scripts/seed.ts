/**
 * `npm run seed`: loads the hospital of `seed/` (charge catalog, clinics, specialists, schedules)
 * into a server and generates the schedules' free Slots for a range of days:
 *
 *   MEDPLUM_BASE_URL=http://localhost:8103/ MEDPLUM_CLIENT_ID=... MEDPLUM_CLIENT_SECRET=... \
 *     npm run seed -- [--from 2025-03-03] [--days 14]
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
  HealthcareService,
  Period,
  PractitionerRole,
  PractitionerRoleAvailableTime,
  Reference,
  Resource,
  Schedule,
} from '@medplum/fhirtypes';
import { generateSlots, recurringBlocks, SLOT_MINUTES_EXTENSION, TIMEZONE_EXTENSION } from '../bots/scheduling/slots.ts';
import { clientFromEnv } from './lib/env-client.ts';

/** Load order: files are read in this order, then any other JSON file alphabetically. */
const FILE_ORDER = ['clinics.json', 'charge-catalog.json'];
const SLOT_BATCH = 200;

export interface SeedOptions {
  dir: string;
  /** First day of slots (YYYY-MM-DD, the clinics' local day); default today. */
  from?: string;
  /** Number of days of slots; default 14 (0: no slots). */
  days?: number;
  log?: (line: string) => void;
}

export interface SeedResult {
  resources: number;
  /** resourceType/identifier value → id */
  ids: Map<string, string>;
  slotsCreated: number;
  slotsExisting: number;
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
  return { resources: count, ids, slotsCreated, slotsExisting };
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
  await seed(medplum, {
    dir: resolve(process.cwd(), 'seed'),
    from,
    days: days === undefined ? undefined : Number(days),
    log: (line) => process.stdout.write(`${line}\n`),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
