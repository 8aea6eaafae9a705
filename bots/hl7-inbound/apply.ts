import { getStatus, type MedplumClient, normalizeErrorString, OperationOutcomeError } from '@medplum/core';
import type { Bundle, BundleEntry, Identifier, Patient, Resource } from '@medplum/fhirtypes';
import type { AckError } from '../../hl7-bridge/hl7v2/ack.ts';
import { identifierToken } from './datatypes/cx.ts';
import { mergedPatients, moveReferences, PATIENT_REFERENCES } from './merge.ts';
import { mergeResource, messageTimeOf, sameContent, withMessageTags } from './merge-resource.ts';
import { isLocalRef, localKey, type MergeStep, type MessagePlan, type Upsert } from './plan.ts';

/**
 * Applies plans to the server: one batch of searches finds what exists (by identifier), the plans
 * are merged into it, and one atomic transaction per round writes every change — creates for new
 * resources, versioned updates (If-Match) for changed ones, nothing for unchanged ones. A repeated
 * message therefore writes nothing. A round the server refuses is retried plan by plan, so one bad
 * message does not fail the others.
 *
 * Creates are conditional (If-None-Exist) when the transaction is small enough for the strict
 * isolation that needs (Medplum's FhirRouter allows 8 entries); bigger rounds create plainly and
 * rely on their caller not converting two messages about one patient at the same time — the
 * bridge guarantees that with its per-patient lanes. Medplum also allows 50 updates per
 * transaction, which bounds how many plans share a round.
 */

export interface PlanResult {
  ok: boolean;
  error?: AckError;
  /** What the plan wrote (or would have, had nothing changed: then empty). */
  written: string[];
}

type WithId<T> = T & { id: string };
const MAX_CONFLICT_RETRIES = 3;
const SEARCH_CHUNK = 40;
/** FhirRouter's limits: entries of a transaction needing strict isolation, and updates per transaction. */
const MAX_STRICT_ENTRIES = 8;
const MAX_UPDATES = 50;
/**
 * Resources per round: creates have no limit of their own, but a transaction's body does (1 MB by
 * default on a Medplum server); 250 resources of a few kB stay well below it.
 */
const MAX_ROUND_RESOURCES = 250;

/** FHIR search escaping of a token value ("\", "," "$" "|"). */
function escapeToken(v: string): string {
  return v.replace(/[\\,$|]/g, (c) => `\\${c}`);
}

function tokenOf(identifier: Identifier): string {
  return `${escapeToken(identifier.system ?? '')}|${escapeToken(identifier.value ?? '')}`;
}

function hasIdentifier(resource: Resource, identifier: Identifier): boolean {
  const ids = (resource as { identifier?: Identifier[] }).identifier ?? [];
  return ids.some((i) => (i.system ?? '') === (identifier.system ?? '') && i.value === identifier.value);
}

let counter = 0;
/** A UUID-shaped id for urn:uuid full URLs: it only has to be unique within one bundle (no crypto in the bot sandbox). */
function uuid(): string {
  counter = (counter + 1) % 1e12;
  return `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
}

/** Finds existing resources for upserts by identifier: one batch of searches (chunked by type). */
async function findExisting(medplum: MedplumClient, upserts: Upsert[]): Promise<Map<string, WithId<Resource>>> {
  const byType = new Map<string, Upsert[]>();
  for (const u of upserts) byType.set(u.resourceType, [...(byType.get(u.resourceType) ?? []), u]);
  const entries: BundleEntry[] = [];
  const asked: Upsert[][] = [];
  for (const [type, list] of byType) {
    for (let i = 0; i < list.length; i += SEARCH_CHUNK) {
      const chunk = list.slice(i, i + SEARCH_CHUNK);
      const tokens = [...new Set(chunk.map((u) => tokenOf(u.identifier)))].join(',');
      entries.push({ request: { method: 'GET', url: `${type}?identifier=${encodeURIComponent(tokens)}&_count=1000` } });
      asked.push(chunk);
    }
  }
  const found = new Map<string, WithId<Resource>>();
  if (entries.length === 0) return found;
  const reply = await medplum.executeBatch({ resourceType: 'Bundle', type: 'batch', entry: entries });
  reply.entry?.forEach((entry, i) => {
    const status = entry.response?.status ?? '';
    if (!status.startsWith('2')) {
      throw new OperationOutcomeError(
        entry.response?.outcome ?? {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'exception', diagnostics: `search failed: ${status}` }],
        },
      );
    }
    const resources = ((entry.resource as Bundle | undefined)?.entry ?? []).map((e) => e.resource as WithId<Resource>);
    for (const u of asked[i]) {
      // Should two exist (created concurrently outside the bridge's lanes), always pick the same one.
      const match = resources.filter((r) => hasIdentifier(r, u.identifier)).sort((a, b) => a.id.localeCompare(b.id))[0];
      if (match) found.set(u.key, match);
    }
  });
  return found;
}

/**
 * Replaces local references; a reference to something that does not exist is dropped (undefined).
 * Copy on write: a subtree without local references is returned as it is (the same object), so
 * resolving a Patient copies only the path to its few references, not every name and address.
 * Nothing downstream changes the result in place (mergeResource and the creates copy the top level).
 */
function resolve(value: unknown, refs: Map<string, string | null>): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const r = resolve(v, refs);
      if (r !== v && !out) out = value.slice(0, i);
      if (out && r !== undefined) out.push(r);
    }
    return out ?? value;
  }
  if (!value || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if (typeof obj.reference === 'string' && isLocalRef(obj.reference)) {
    const target = refs.get(localKey(obj.reference));
    if (!target) return undefined;
    return { ...obj, reference: target };
  }
  let out: Record<string, unknown> | undefined;
  for (const k in obj) {
    const v = obj[k];
    const r = resolve(v, refs);
    if (r === v) {
      if (out) out[k] = v;
      continue;
    }
    if (!out) {
      out = {};
      for (const before in obj) {
        if (before === k) break;
        out[before] = obj[before];
      }
    }
    // An array that only held dropped references goes with them.
    if (r !== undefined && !(Array.isArray(r) && r.length === 0 && Array.isArray(v) && v.length > 0)) out[k] = r;
  }
  return out ?? obj;
}

/** Every upsert key of the plans once (what to look up). */
function unique(plans: MessagePlan[]): Upsert[] {
  const byKey = new Map<string, Upsert>();
  for (const plan of plans) for (const u of plan.upserts) if (!byKey.has(u.key)) byKey.set(u.key, u);
  return [...byKey.values()];
}

/** One upsert per key; when several plans name the same resource, a merging one wins over a create-only one. */
function collect(plans: MessagePlan[]): { upsert: Upsert; plan: MessagePlan }[] {
  const byKey = new Map<string, { upsert: Upsert; plan: MessagePlan }>();
  for (const plan of plans) {
    for (const upsert of plan.upserts) {
      const current = byKey.get(upsert.key);
      if (!current || (upsert.mode === 'merge' && current.upsert.mode !== 'merge')) byKey.set(upsert.key, { upsert, plan });
    }
  }
  return [...byKey.values()];
}

/** The writes of one round: a transaction bundle (possibly empty) and what each plan writes. */
async function prepareRound(
  medplum: MedplumClient,
  plans: MessagePlan[],
  known?: Map<string, WithId<Resource>>,
): Promise<{ bundle: Bundle; written: Map<MessagePlan, string[]> }> {
  const items = collect(plans);
  const existing =
    known ??
    (await findExisting(
      medplum,
      items.map((i) => i.upsert),
    ));
  const refs = new Map<string, string | null>();
  const fullUrls = new Map<string, string>();
  for (const { upsert } of items) {
    const found = existing.get(upsert.key);
    if (found) refs.set(upsert.key, `${found.resourceType}/${found.id}`);
    else if (upsert.mode === 'reference-only') refs.set(upsert.key, null);
    else {
      const url = `urn:uuid:${uuid()}`;
      fullUrls.set(upsert.key, url);
      refs.set(upsert.key, url);
    }
  }
  const entries: BundleEntry[] = [];
  const written = new Map<MessagePlan, string[]>(plans.map((p) => [p, []]));
  for (const { upsert, plan } of items) {
    const found = existing.get(upsert.key);
    // Existing resources a plan only creates when unknown (locations, practitioners): nothing to resolve.
    if (found && upsert.mode !== 'merge') continue;
    const incoming = resolve(upsert.resource, refs) as Resource;
    if (found) {
      const storedTime = messageTimeOf(found);
      // An older message (a replay, a late resend) never overwrites what a newer one wrote.
      if (storedTime && plan.messageTime && storedTime > plan.messageTime) continue;
      const merged = mergeResource(found, incoming, upsert.clear);
      if (sameContent(merged, found)) continue;
      merged.meta = withMessageTags(found.meta, plan.source, plan.messageTime);
      entries.push({
        fullUrl: `${found.resourceType}/${found.id}`,
        resource: merged,
        request: { method: 'PUT', url: `${found.resourceType}/${found.id}`, ifMatch: `W/"${found.meta?.versionId}"` },
      });
      written.get(plan)?.push(`${found.resourceType}/${found.id}`);
    } else if (upsert.mode !== 'reference-only') {
      const created = { ...upsert.defaults, ...incoming, meta: withMessageTags(incoming.meta, plan.source, plan.messageTime) } as Resource;
      entries.push({
        fullUrl: fullUrls.get(upsert.key),
        resource: created,
        request: { method: 'POST', url: upsert.resourceType, ifNoneExist: `identifier=${tokenOf(upsert.identifier)}` },
      });
      written.get(plan)?.push(`${upsert.resourceType}?identifier=${identifierToken(upsert.identifier)}`);
    }
  }
  if (entries.length > MAX_STRICT_ENTRIES) {
    for (const e of entries) delete e.request?.ifNoneExist;
  }
  return { bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries }, written };
}

function isConflict(err: unknown): boolean {
  if (!(err instanceof OperationOutcomeError)) return false;
  const status = getStatus(err.outcome);
  return status === 409 || status === 412;
}

/** Server trouble that says nothing about the message: the whole $execute should fail and be retried. */
function isTransient(err: unknown): boolean {
  if (!(err instanceof OperationOutcomeError)) return true;
  const status = getStatus(err.outcome);
  return status === 401 || status === 429 || status >= 500;
}

/**
 * Writes one round. `known`: what a search made just before found (the batch's search, for its
 * first round); a retry after a conflict always reads again.
 */
async function applyRound(
  medplum: MedplumClient,
  plans: MessagePlan[],
  known?: Map<string, WithId<Resource>>,
): Promise<Map<MessagePlan, string[]>> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { bundle, written } = await prepareRound(medplum, plans, attempt === 1 ? known : undefined);
      // The transaction is atomic: success says every entry was written, so its reply bundle (every
      // created resource again) is not needed — the server neither serialises nor sends it.
      if (bundle.entry?.length) await medplum.executeBatch(bundle, { headers: { Prefer: 'return=minimal' } });
      for (const plan of plans) {
        if (plan.merge) written.get(plan)?.push(...(await applyMerge(medplum, plan.merge)));
      }
      return written;
    } catch (err) {
      // Someone changed a resource between our read and our write: read again.
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) continue;
      throw err;
    }
  }
}

/**
 * Rounds: a plan starts a new round when it would merge into a resource an earlier plan of the
 * round merges into, when it is a merge (A40), or when the round could exceed the update limit or
 * MAX_ROUND_RESOURCES.
 * Only merges into resources that exist can become updates: given what exists (`existing`, by
 * upsert key), merges into new resources (creates, which have no limit) do not count; without it,
 * every merge counts.
 */
export function rounds(plans: MessagePlan[], existing?: ReadonlySet<string> | ReadonlyMap<string, unknown>): MessagePlan[][] {
  const out: MessagePlan[][] = [];
  let current: MessagePlan[] = [];
  let keys = new Set<string>();
  let resources = new Set<string>();
  let updates = 0;
  for (const plan of plans) {
    const mine = plan.upserts.filter((u) => u.mode === 'merge').map((u) => u.key);
    const mayUpdate = existing ? mine.filter((k) => existing.has(k)).length : mine.length;
    const added = plan.upserts.filter((u) => !resources.has(u.key)).length;
    const full = updates + mayUpdate > MAX_UPDATES || resources.size + added > MAX_ROUND_RESOURCES;
    if (current.length && (full || plan.merge || current.some((p) => p.merge) || mine.some((k) => keys.has(k)))) {
      out.push(current);
      current = [];
      keys = new Set();
      resources = new Set();
      updates = 0;
    }
    current.push(plan);
    updates += mayUpdate;
    for (const k of mine) keys.add(k);
    for (const u of plan.upserts) resources.add(u.key);
  }
  if (current.length) out.push(current);
  return out;
}

function failure(err: unknown): PlanResult {
  const text = normalizeErrorString(err);
  return { ok: false, written: [], error: { code: '207', severity: 'E', text: `The FHIR server refused the conversion: ${text}` } };
}

/**
 * What exists for all plans; undefined when the search is refused (a message with an identifier
 * the server cannot search): then every round searches for itself, so the refusal is tied to the
 * plan that causes it (below) instead of failing the batch.
 */
async function findAll(medplum: MedplumClient, plans: MessagePlan[]): Promise<Map<string, WithId<Resource>> | undefined> {
  if (plans.length === 0) return undefined;
  try {
    return await findExisting(medplum, unique(plans));
  } catch (err) {
    if (isTransient(err)) throw err;
    return undefined;
  }
}

/** Applies the plans in order; one result per plan. Throws only for server trouble (retry later). */
export async function applyPlans(medplum: MedplumClient, plans: MessagePlan[]): Promise<PlanResult[]> {
  const results = new Map<MessagePlan, PlanResult>();
  // One search for the whole batch says which merges can become updates, so a batch of new
  // patients is one round (one transaction) instead of one per 25 ADT messages, and the first
  // round writes on what it found. Later rounds read again: earlier ones have written.
  const existing = await findAll(medplum, plans);
  for (const [i, round] of rounds(plans, existing).entries()) {
    try {
      const written = await applyRound(medplum, round, i === 0 ? existing : undefined);
      for (const plan of round) results.set(plan, { ok: true, written: written.get(plan) ?? [] });
    } catch (err) {
      if (isTransient(err)) throw err;
      if (round.length === 1) {
        results.set(round[0], failure(err));
        continue;
      }
      for (const plan of round) {
        try {
          const written = await applyRound(medplum, [plan]);
          results.set(plan, { ok: true, written: written.get(plan) ?? [] });
        } catch (e) {
          if (isTransient(e)) throw e;
          results.set(plan, failure(e));
        }
      }
    }
  }
  return plans.map((p) => results.get(p) as PlanResult);
}

async function searchPatients(medplum: MedplumClient, identifiers: Identifier[]): Promise<WithId<Patient>[]> {
  if (identifiers.length === 0) return [];
  return (await medplum.searchResources(
    'Patient',
    { identifier: identifiers.map(tokenOf).join(','), _count: '100' },
    { cache: 'no-cache' },
  )) as WithId<Patient>[];
}

/** A40: links the two patients and moves every reference from the merged one to the survivor. */
async function applyMerge(medplum: MedplumClient, step: MergeStep): Promise<string[]> {
  const [survivor] = await searchPatients(medplum, step.survivor);
  const olds = (await searchPatients(medplum, step.old)).filter((p) => p.id !== survivor?.id);
  if (!survivor || olds.length === 0) return [];
  const entries: BundleEntry[] = [];
  const put = (before: WithId<Resource>, after: Resource) => {
    if (sameContent(before, after)) return;
    entries.push({
      resource: after,
      request: { method: 'PUT', url: `${before.resourceType}/${before.id}`, ifMatch: `W/"${before.meta?.versionId}"` },
    });
  };
  let current: WithId<Patient> = survivor;
  for (const old of olds) {
    const merged = mergedPatients(current, old);
    put(old, merged.old);
    current = { ...(merged.survivor as WithId<Patient>) };
    const from = `Patient/${old.id}`;
    const to = `Patient/${survivor.id}`;
    const search: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: PATIENT_REFERENCES.map(([type, param]) => ({ request: { method: 'GET', url: `${type}?${param}=${from}&_count=1000` } })),
    };
    const reply = await medplum.executeBatch(search);
    for (const entry of reply.entry ?? []) {
      for (const e of (entry.resource as Bundle | undefined)?.entry ?? []) {
        const r = e.resource as WithId<Resource>;
        put(r, moveReferences(r, from, to));
      }
    }
  }
  put(survivor, current);
  if (entries.length) await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries });
  return entries.map((e) => e.request?.url as string);
}
