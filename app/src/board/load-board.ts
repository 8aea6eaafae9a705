import type { MedplumClient } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { canRead } from '../access.ts';
import { ACTIVE_ED_STATUSES, OBSERVATION_CODE_SYSTEM } from '../codes.ts';
import { type BoardInput, collect, emptyInput, refId } from './board-data.ts';

const ACTIVE = ACTIVE_ED_STATUSES.join(',');
const MAX = '1000';
/** Alerts older than this are not about the current visit (an ED stay is hours, not days). */
const ISSUE_WINDOW_MS = 3 * 86_400_000;

/**
 * Searches that a role may not run (a clerk reads no Observations) answer with an error; the board
 * then shows what the role may see instead of failing as a whole.
 */
async function optional(p: Promise<Bundle>): Promise<Bundle | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

/** A search of a type the role's AccessPolicy grants; none (and no 403 in the console) otherwise. */
function ifReadable(medplum: MedplumClient, type: string, search: () => Promise<Bundle>): Promise<Bundle | undefined> {
  return canRead(medplum, type) ? optional(search()) : Promise.resolve(undefined);
}

/** Encounter ids per follow-up search: keeps the URL a few KB, well under proxies' limits. */
const IDS_PER_SEARCH = 100;

/** One search per chunk of encounters, run in parallel, merged into one result list. */
async function byEncounters(
  medplum: MedplumClient,
  type: 'Observation' | 'Task',
  query: string,
  encounterIds: string[],
): Promise<Bundle | undefined> {
  if (!canRead(medplum, type)) return undefined;
  const chunks: string[][] = [];
  for (let i = 0; i < encounterIds.length; i += IDS_PER_SEARCH) chunks.push(encounterIds.slice(i, i + IDS_PER_SEARCH));
  const results = await Promise.all(
    chunks.map((ids) =>
      optional(
        medplum.search(type, `${query}encounter=${ids.map((id) => `Encounter/${id}`).join(',')}&_count=${MAX}`, { cache: 'no-cache' }),
      ),
    ),
  );
  const ok = results.filter((b): b is Bundle => !!b);
  if (ok.length === 0) return undefined;
  return { resourceType: 'Bundle', type: 'searchset', entry: ok.flatMap((b) => b.entry ?? []) };
}

/**
 * The whole board: every active ED encounter with what its row shows. Results and tasks are asked
 * for by the encounters' ids, not by a chained search on the encounter's status: the chained
 * search costs the server a join over every Observation and was the board's slowest request.
 */
export function loadBoard(medplum: MedplumClient): Promise<BoardInput> {
  // The board can mount twice in a row right after sign-in (the profile arrives while it loads);
  // both then share one load instead of doubling the server's work during the first render.
  const pending = inFlight.get(medplum);
  if (pending) return pending;
  const load = fetchBoard(medplum).finally(() => inFlight.delete(medplum));
  inFlight.set(medplum, load);
  return load;
}

/** Board loads under way, per client. */
const inFlight = new WeakMap<MedplumClient, Promise<BoardInput>>();

async function fetchBoard(medplum: MedplumClient): Promise<BoardInput> {
  const opts = { cache: 'no-cache' as const };
  const since = new Date(Date.now() - ISSUE_WINDOW_MS).toISOString();
  const alerts = Promise.all([
    ifReadable(medplum, 'Flag', () => medplum.search('Flag', `status=active&_count=${MAX}`, opts)),
    ifReadable(medplum, 'DetectedIssue', () => medplum.search('DetectedIssue', `_lastUpdated=ge${since}&_count=${MAX}`, opts)),
  ]);
  const encounters = await medplum.search(
    'Encounter',
    `class=EMER&status=${ACTIVE}&_count=${MAX}&_include=Encounter:subject&_include=Encounter:location&_include=Encounter:participant&_include:iterate=Location:partof`,
    opts,
  );
  const ids = (encounters.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Encounter' && e.resource.id ? [e.resource.id] : []));
  const [observations, tasks, [flags, issues]] = await Promise.all([
    ids.length
      ? byEncounters(medplum, 'Observation', `code=${OBSERVATION_CODE_SYSTEM}|esi,${OBSERVATION_CODE_SYSTEM}|news2&`, ids)
      : undefined,
    ids.length ? byEncounters(medplum, 'Task', '', ids) : undefined,
    alerts,
  ]);
  return collect([encounters, observations, tasks, flags, issues]);
}

/** One encounter's slice of the board (after a notification about it). */
export async function loadEncounterSlice(medplum: MedplumClient, encounterId: string): Promise<BoardInput> {
  const opts = { cache: 'no-cache' as const };
  const encounters = await medplum.search(
    'Encounter',
    `_id=${encounterId}&status=${ACTIVE}&_include=Encounter:subject&_include=Encounter:location&_include=Encounter:participant&_include:iterate=Location:partof`,
    opts,
  );
  const encounter = encounters.entry?.find((e) => e.resource?.resourceType === 'Encounter')?.resource;
  if (!encounter) return emptyInput();
  const patientId = refId((encounter as { subject?: { reference?: string } }).subject, 'Patient');
  const [observations, tasks, flags, issues] = await Promise.all([
    ifReadable(medplum, 'Observation', () =>
      medplum.search(
        'Observation',
        `code=${OBSERVATION_CODE_SYSTEM}|esi,${OBSERVATION_CODE_SYSTEM}|news2&encounter=Encounter/${encounterId}&_count=${MAX}`,
        opts,
      ),
    ),
    ifReadable(medplum, 'Task', () => medplum.search('Task', `encounter=Encounter/${encounterId}&_count=${MAX}`, opts)),
    patientId
      ? ifReadable(medplum, 'Flag', () => medplum.search('Flag', `status=active&subject=Patient/${patientId}&_count=${MAX}`, opts))
      : undefined,
    patientId
      ? ifReadable(medplum, 'DetectedIssue', () => medplum.search('DetectedIssue', `patient=Patient/${patientId}&_count=${MAX}`, opts))
      : undefined,
  ]);
  return collect([encounters, observations, tasks, flags, issues]);
}

/** Replaces one encounter's slice of the board input (its encounter, results, tasks and its patient's alerts). */
export function mergeSlice(input: BoardInput, encounterId: string, patientId: string | undefined, slice: BoardInput): BoardInput {
  const notEnc = (ref: { reference?: string } | undefined) => ref?.reference !== `Encounter/${encounterId}`;
  const notPatient = (ref: { reference?: string } | undefined) => !patientId || ref?.reference !== `Patient/${patientId}`;
  const replace = <T extends { id?: string }>(old: T[], add: T[], keep: (t: T) => boolean) => {
    const ids = new Set(add.map((a) => a.id));
    return [...old.filter((o) => keep(o) && !ids.has(o.id)), ...add];
  };
  return {
    encounters: replace(input.encounters, slice.encounters, (e) => e.id !== encounterId),
    patients: replace(input.patients, slice.patients, () => true),
    locations: replace(input.locations, slice.locations, () => true),
    practitioners: replace(input.practitioners, slice.practitioners, () => true),
    observations: replace(input.observations, slice.observations, (o) => notEnc(o.encounter)),
    tasks: replace(input.tasks, slice.tasks, (t) => notEnc(t.encounter) && notEnc(t.focus)),
    flags: replace(input.flags, slice.flags, (f) => notPatient(f.subject)),
    issues: replace(input.issues, slice.issues, (d) => notPatient(d.patient)),
  };
}

/**
 * Applies a notified resource to the board input directly (the notification carries it), so a
 * change shows without another request. Returns undefined when the board must ask the server
 * instead: a new arrival whose patient is not loaded yet.
 */
export function applyResource(input: BoardInput, resource: Resource): BoardInput | undefined {
  const upsert = <T extends { id?: string }>(list: T[], r: T) => [...list.filter((x) => x.id !== r.id), r];
  switch (resource.resourceType) {
    case 'Encounter': {
      const active = (ACTIVE_ED_STATUSES as readonly string[]).includes(resource.status) && resource.class?.code === 'EMER';
      if (!active) return { ...input, encounters: input.encounters.filter((e) => e.id !== resource.id) };
      const known = input.encounters.find((e) => e.id === resource.id);
      const patientId = refId(resource.subject, 'Patient');
      const sameLinks =
        known &&
        known.subject?.reference === resource.subject?.reference &&
        JSON.stringify(known.location) === JSON.stringify(resource.location) &&
        JSON.stringify(known.participant) === JSON.stringify(resource.participant);
      if (!sameLinks || !input.patients.some((p) => p.id === patientId)) return undefined;
      return { ...input, encounters: upsert(input.encounters, resource) };
    }
    case 'Observation':
      return { ...input, observations: upsert(input.observations, resource) };
    case 'Task':
      return { ...input, tasks: upsert(input.tasks, resource) };
    case 'Flag':
      return { ...input, flags: upsert(input.flags, resource) };
    case 'DetectedIssue':
      return { ...input, issues: upsert(input.issues, resource) };
    default:
      return undefined;
  }
}
