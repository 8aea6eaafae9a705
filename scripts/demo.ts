/**
 * `npm run demo`: an ED shift played against a running server, so the board fills and moves.
 *
 *   MEDPLUM_BASE_URL=http://localhost:8103/ MEDPLUM_CLIENT_ID=... MEDPLUM_CLIENT_SECRET=... \
 *     npm run demo -- [--speed 60] [--duration 240] [--seed 1] [--rate 8] [--no-hl7]
 *
 * `--speed N`: N simulated minutes per real minute (60: an hour a minute); `--duration`:
 * simulated minutes (default 240); `--rate`: arrivals per simulated hour (default 8); `--seed`:
 * the same seed plays the same shift. Arrivals come at the ED desk (FHIR: Patient, an emergency
 * Encounter with its complaint and mode of arrival, the triage nurse's vitals) or, for a quarter
 * of them, from the legacy registration system as ADT^A04 over MLLP to the HL7 bridge (HL7_HOST,
 * HL7_PORT, default 127.0.0.1:2575). Wearables stream heart rate, SpO2 and respiratory rate every
 * 5 simulated minutes (some deteriorate); patients are discharged (Encounter finished, or ADT^A03
 * for HL7 arrivals) and some get a follow-up order. Timestamps are real: the board shows now.
 */
import { pathToFileURL } from 'node:url';
import type { MedplumClient } from '@medplum/core';
import type { Device, Encounter, Observation, Patient, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { MllpClient, MllpConnectionError } from '../hl7-bridge/mllp/client.ts';
import { ARRIVAL_MODES, type DemoCase, type PlannedArrival, planShift, wearableReading } from './demo-plan.ts';
import { clientFromEnv } from './lib/env-client.ts';
import { patientKey, SYNTHETIC_SYSTEM } from './seed-patients.ts';

const ES = 'https://emergisphere.dev/fhir';
export const DEMO_SYSTEM = `${ES}/demo`;
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const SNOMED = 'http://snomed.info/sct';
const MODE_OF_ARRIVAL = 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival';
const VITAL_SIGNS = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }];
const WEARABLE_EVERY_MINUTES = 5;

export interface DemoOptions {
  medplum: MedplumClient;
  /** The HL7 bridge's MLLP listener; without it every arrival comes over FHIR. */
  hl7?: { host: string; port: number };
  seed: number;
  /** Simulated minutes per real minute. */
  speed: number;
  /** Simulated minutes. */
  durationMinutes: number;
  arrivalsPerHour?: number;
  /** The seed number and size of the synthetic patients (returning patients); default 42, 300. */
  patientSeed?: number;
  syntheticPatients?: number;
  log?: (line: string) => void;
}

export interface DemoStats {
  arrivals: number;
  viaHl7: number;
  ambulance: number;
  returning: number;
  /** Encounters written over FHIR (HL7 arrivals' Encounters are written by the hl7-inbound bot). */
  encounters: string[];
  /** MSH-10 of the ADT^A04 messages the bridge accepted. */
  hl7Messages: string[];
  observations: number;
  wearables: number;
  deteriorating: number;
  discharges: number;
  /** Of the discharges, those sent as ADT^A03. */
  hl7Discharges: number;
  followUps: number;
  errors: string[];
}

interface Live {
  plan: PlannedArrival;
  /** As planned, unless the bridge could not be reached (then the desk registers the patient). */
  viaHl7: boolean;
  patient?: Reference<Patient>;
  encounter?: Reference<Encounter>;
  device?: Reference<Device>;
  visit: string;
  mrn: string;
}

type Event = { at: number; kind: 'arrive' | 'reading' | 'discharge'; live: Live };

const quantity = (value: number, unit: string, code = unit) => ({ value, unit, system: UCUM, code });

function vitalObservations(c: DemoCase, subject: Reference<Patient>, encounter: Reference<Encounter>, at: string): Observation[] {
  const v = c.vitals;
  const obs = (code: string, display: string, value: Observation['valueQuantity']): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    category: VITAL_SIGNS,
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject,
    encounter,
    effectiveDateTime: at,
    valueQuantity: value,
  });
  const list = [
    obs('8867-4', 'Heart rate', quantity(v.hr, '/min')),
    obs('9279-1', 'Respiratory rate', quantity(v.rr, '/min')),
    obs('59408-5', 'Oxygen saturation by pulse oximetry', quantity(v.spo2, '%')),
    obs('8310-5', 'Body temperature', quantity(v.temp, 'Cel')),
    {
      ...obs('85354-9', 'Blood pressure panel', undefined),
      valueQuantity: undefined,
      component: [
        {
          code: { coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }] },
          valueQuantity: quantity(v.sbp, 'mm[Hg]'),
        },
        {
          code: { coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }] },
          valueQuantity: quantity(v.dbp, 'mm[Hg]'),
        },
      ],
    } as Observation,
  ];
  if (c.painScore !== undefined) list.push(obs('72514-3', 'Pain severity 0-10 verbal numeric rating', quantity(c.painScore, '{score}')));
  return list;
}

function hl7Timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** An ADT message from the legacy registration system (A04 register, A03 discharge). */
export function adtMessage(event: 'A04' | 'A03', live: Live, controlId: string, now: number): string {
  const c = live.plan.case;
  const birth = new Date(now - c.ageDays * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
  const ts = hl7Timestamp(now);
  const pv1 = ['PV1', '1', 'E', 'ED^WAITING^^LEGACYREG', '', '', '', '', '', '', 'EM'];
  while (pv1.length < 45) pv1.push('');
  pv1[19] = `${live.visit}^^^LEGACYREG^VN`;
  pv1[44] = hl7Timestamp(now - (event === 'A03' ? 3 * 3_600_000 : 0));
  if (event === 'A03') {
    pv1[36] = '01^Discharged to home^HL70112';
    pv1[45] = ts;
  }
  const pv2 = ['PV2', '', '', `^${c.chiefComplaint.replace(/[|^~\\&]/g, ' ')}`];
  while (pv2.length < 39) pv2.push('');
  const mode = ARRIVAL_MODES[c.arrivalMode] ?? ARRIVAL_MODES.police;
  pv2[38] = `${mode.code}^${mode.display}^HL70430`;
  return [
    `MSH|^~\\&|LEGACYREG|GENHOSP|EMERGISPHERE|ED|${ts}||ADT^${event}^ADT_A01|${controlId}|P|2.5.1`,
    `EVN|${event}|${ts}`,
    `PID|1||${live.mrn}^^^LEGACYREG^MR||Legacy${live.plan.n}^Pat||${birth}|${c.sex === 'female' ? 'F' : 'M'}`,
    pv1.join('|'),
    pv2.join('|'),
  ].join('\r');
}

export async function runDemo(options: DemoOptions): Promise<DemoStats> {
  const { medplum, seed } = options;
  const log = options.log ?? (() => undefined);
  const patientSeed = options.patientSeed ?? 42;
  const plan = planShift({
    seed,
    durationMinutes: options.durationMinutes,
    arrivalsPerHour: options.arrivalsPerHour ?? 8,
    hl7Share: options.hl7 ? 0.25 : 0,
    syntheticPatients: options.syntheticPatients ?? 300,
  });
  const who = (c: DemoCase) => `${typeof c.age === 'number' ? `${c.age}y` : c.age} ${c.sex === 'female' ? 'F' : 'M'}`;
  const stats: DemoStats = {
    arrivals: 0,
    viaHl7: 0,
    ambulance: 0,
    returning: 0,
    encounters: [],
    hl7Messages: [],
    observations: 0,
    wearables: 0,
    deteriorating: 0,
    discharges: 0,
    hl7Discharges: 0,
    followUps: 0,
    errors: [],
  };
  // A run tag keeps this run's visit numbers and HL7 control ids apart from earlier runs'.
  const run = Date.now().toString(36).toUpperCase();
  const mllp = options.hl7 ? new MllpClient({ host: options.hl7.host, port: options.hl7.port }) : undefined;
  const events: Event[] = [];
  for (const p of plan) {
    const live: Live = { plan: p, viaHl7: p.viaHl7, visit: `DEMO${run}${p.n}`, mrn: `L${seed}-${p.n}` };
    events.push({ at: p.at, kind: 'arrive', live });
    if (p.wearable) {
      for (let m = p.at + WEARABLE_EVERY_MINUTES; m < Math.min(p.dischargeAt, options.durationMinutes); m += WEARABLE_EVERY_MINUTES) {
        events.push({ at: m, kind: 'reading', live });
      }
    }
    if (p.dischargeAt < options.durationMinutes) events.push({ at: p.dischargeAt, kind: 'discharge', live });
  }
  events.sort((a, b) => a.at - b.at);
  log(`shift: ${plan.length} arrivals over ${options.durationMinutes} simulated minutes at ×${options.speed}`);

  let hl7Down = false;
  const sendHl7 = async (event: 'A04' | 'A03', live: Live): Promise<void> => {
    const controlId = `${live.visit}${event}`;
    const ack = (await (mllp as MllpClient).send(adtMessage(event, live, controlId, Date.now()))).toString('utf8');
    const code = /\rMSA\|(\w\w)/.exec(ack)?.[1];
    if (code !== 'AA' && code !== 'CA') throw new Error(`the bridge answered ${code ?? 'no MSA'} to ${controlId}`);
    if (event === 'A04') stats.hl7Messages.push(controlId);
  };

  const arrive = async (live: Live): Promise<void> => {
    const p = live.plan;
    const c = p.case;
    stats.arrivals++;
    if (c.arrivalMode === 'ambulance') stats.ambulance++;
    if (live.viaHl7 && !hl7Down) {
      try {
        await sendHl7('A04', live);
        stats.viaHl7++;
        log(`+${p.at.toFixed(0)} min  HL7 ADT^A04     ${who(c)}  ${c.chiefComplaint}`);
        return;
      } catch (err) {
        if (!(err instanceof MllpConnectionError)) throw err;
        hl7Down = true;
        log(`! the HL7 bridge is not reachable (${err.message}): the desk registers these arrivals instead (--no-hl7 to skip HL7)`);
      }
    }
    live.viaHl7 = false;
    const now = new Date().toISOString();
    let patient: Patient | undefined;
    if (p.returning !== undefined) {
      patient = await medplum.searchOne('Patient', { identifier: `${SYNTHETIC_SYSTEM}|${patientKey(patientSeed, p.returning)}` });
      if (patient) stats.returning++;
    }
    if (!patient) {
      // Spread birthdays over the year, but never make a newborn older than stated.
      const birthDate = new Date(Date.now() - (c.ageDays + (c.ageDays > 365 ? p.n % 300 : 0)) * 86_400_000).toISOString().slice(0, 10);
      const value = `${seed}-${p.n}`;
      patient = await medplum.createResourceIfNoneExist<Patient>(
        {
          resourceType: 'Patient',
          identifier: [{ system: DEMO_SYSTEM, value }],
          name: [{ family: `Demo${p.n}`, given: [c.sex === 'female' ? 'Alex' : 'Sam'] }],
          gender: c.sex,
          birthDate,
        },
        `identifier=${DEMO_SYSTEM}|${value}`,
      );
    }
    live.patient = { reference: `Patient/${patient.id}` };
    const mode = ARRIVAL_MODES[c.arrivalMode] ?? ARRIVAL_MODES.police;
    const encounter = await medplum.createResource<Encounter>({
      resourceType: 'Encounter',
      identifier: [{ system: `${DEMO_SYSTEM}/visit`, value: live.visit }],
      status: 'arrived',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER', display: 'emergency' },
      subject: live.patient,
      period: { start: now },
      reasonCode: [{ text: c.chiefComplaint }],
      extension: [
        {
          url: MODE_OF_ARRIVAL,
          valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0430', ...mode },
        },
      ],
    });
    live.encounter = { reference: `Encounter/${encounter.id}` };
    stats.encounters.push(encounter.id as string);
    for (const o of vitalObservations(c, live.patient, live.encounter, now)) {
      await medplum.createResource(o);
      stats.observations++;
    }
    if (p.wearable) {
      const device = await medplum.createResource<Device>({
        resourceType: 'Device',
        identifier: [{ system: `${DEMO_SYSTEM}/device`, value: `${live.visit}-patch` }],
        status: 'active',
        serialNumber: `PATCH-${live.visit}`,
        deviceName: [{ name: `Wearable patch (${live.visit})`, type: 'user-friendly-name' }],
        type: { coding: [{ system: SNOMED, code: '462894001', display: 'Wearable vital signs patch' }] },
        patient: live.patient,
      });
      live.device = { reference: `Device/${device.id}` };
      stats.wearables++;
      if (p.deteriorating) stats.deteriorating++;
    }
    log(`+${p.at.toFixed(0)} min  ${c.arrivalMode.padEnd(15)}  ${who(c)}  ${c.chiefComplaint}${p.wearable ? ' [wearable]' : ''}`);
  };

  const reading = async (live: Live, at: number): Promise<void> => {
    if (!live.device || !live.patient || !live.encounter) return;
    const v = wearableReading(live.plan, at - live.plan.at, seed);
    const now = new Date().toISOString();
    const base = {
      resourceType: 'Observation',
      status: 'final',
      category: VITAL_SIGNS,
      subject: live.patient,
      encounter: live.encounter,
      device: live.device,
      effectiveDateTime: now,
    } as const;
    await medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        ['8867-4', 'Heart rate', quantity(v.hr, '/min')],
        ['59408-5', 'Oxygen saturation by pulse oximetry', quantity(v.spo2, '%')],
        ['9279-1', 'Respiratory rate', quantity(v.rr, '/min')],
      ].map(([code, display, value]) => ({
        request: { method: 'POST', url: 'Observation' },
        resource: { ...base, code: { coding: [{ system: LOINC, code, display }] }, valueQuantity: value } as Observation,
      })),
    });
    stats.observations += 3;
  };

  const discharge = async (live: Live): Promise<void> => {
    const p = live.plan;
    if (live.viaHl7) {
      if (!stats.hl7Messages.includes(`${live.visit}A04`)) return;
      await sendHl7('A03', live);
      stats.hl7Discharges++;
    } else {
      if (!live.encounter) return;
      const encounter = await medplum.readReference(live.encounter);
      await medplum.updateResource<Encounter>({
        ...encounter,
        status: 'finished',
        period: { ...encounter.period, end: new Date().toISOString() },
      });
      if (live.device) {
        const device = await medplum.readReference(live.device);
        await medplum.updateResource<Device>({ ...device, patient: undefined });
      }
      if (p.followUp && live.patient) {
        await medplum.createResource<ServiceRequest>({
          resourceType: 'ServiceRequest',
          status: 'active',
          intent: 'order',
          code: {
            coding: [{ system: SNOMED, code: '390906007', display: 'Follow-up encounter' }],
            text: `Follow-up: ${p.case.chiefComplaint}`,
          },
          subject: live.patient,
          encounter: live.encounter,
          occurrenceDateTime: new Date(Date.now() + (2 + (p.n % 5)) * 86_400_000).toISOString(),
        });
        stats.followUps++;
      }
    }
    stats.discharges++;
    log(`+${p.at.toFixed(0)}→${p.dischargeAt.toFixed(0)} min  discharged  ${p.case.chiefComplaint}`);
  };

  const start = Date.now();
  try {
    for (const event of events) {
      const due = start + (event.at * 60_000) / options.speed;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        if (event.kind === 'arrive') await arrive(event.live);
        else if (event.kind === 'reading') await reading(event.live, event.at);
        else await discharge(event.live);
      } catch (err) {
        const message = `${event.kind} #${event.live.plan.n}: ${err instanceof Error ? err.message : String(err)}`;
        stats.errors.push(message);
        log(`! ${message}`);
      }
    }
    const left = start + (options.durationMinutes * 60_000) / options.speed - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  } finally {
    mllp?.close();
  }
  return stats;
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function positive(args: string[], name: string, fallback: number): number {
  const raw = argValue(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

async function main(): Promise<void> {
  const medplum = await clientFromEnv();
  const args = process.argv.slice(2);
  const stats = await runDemo({
    medplum,
    hl7: args.includes('--no-hl7') ? undefined : { host: process.env.HL7_HOST ?? '127.0.0.1', port: Number(process.env.HL7_PORT ?? 2575) },
    seed: Math.floor(positive(args, '--seed', 1)),
    speed: positive(args, '--speed', 60),
    durationMinutes: positive(args, '--duration', 240),
    arrivalsPerHour: positive(args, '--rate', 8),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const { encounters, hl7Messages, errors, ...counts } = stats;
  process.stdout.write(
    `\n${JSON.stringify({ ...counts, encounters: encounters.length, hl7Messages: hl7Messages.length, errors: errors.length })}\n`,
  );
  if (errors.length > 0 && errors.length === stats.arrivals) process.exit(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
