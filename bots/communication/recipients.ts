/**
 * Who a CommunicationRequest reaches, how, and whether family may be written to. Pure functions
 * of already loaded resources.
 */
import type {
  CareTeam,
  CommunicationRequest,
  Consent,
  ConsentProvision,
  ContactPoint,
  Patient,
  Practitioner,
  PractitionerRole,
  RelatedPerson,
} from '@medplum/fhirtypes';
import { CATEGORY_SYSTEM, type Category, CONSENT_PURPOSE_SYSTEM, FAMILY_UPDATES } from './codes.ts';

/** Staff get clinical content; family never does; the patient gets their own appointments and bills. */
export type Audience = 'staff' | 'family' | 'patient';
export type Addressable = Practitioner | PractitionerRole | RelatedPerson | Patient;

export interface Target {
  /** e.g. Practitioner/123 */
  reference: string;
  display?: string;
  audience: Audience;
}

/** A recipient nobody can be reached through; it gets a `not-done` Communication saying why. */
export interface Unreachable {
  reference: string;
  display?: string;
  reason: string;
}

export interface TeamMember extends Target {
  onShift: boolean;
}

const AUDIENCE: Record<string, Audience> = {
  Practitioner: 'staff',
  PractitionerRole: 'staff',
  RelatedPerson: 'family',
  Patient: 'patient',
};

export function audienceOf(reference: string): Audience | undefined {
  return AUDIENCE[reference.split('/')[0]];
}

export function categoryOf(request: CommunicationRequest): Category {
  const code = request.category?.flatMap((c) => c.coding ?? []).find((c) => c.system === CATEGORY_SYSTEM)?.code;
  return (code as Category | undefined) ?? 'staff-notice';
}

export function isPage(request: CommunicationRequest): boolean {
  return categoryOf(request) === 'page';
}

function within(period: { start?: string; end?: string } | undefined, now: Date): boolean {
  const t = now.getTime();
  return (!period?.start || Date.parse(period.start) <= t) && (!period?.end || t < Date.parse(period.end));
}

/** The team's addressable participants in list (= escalation) order, each marked on or off shift. */
export function teamMembers(team: CareTeam, now: Date): TeamMember[] {
  const members: TeamMember[] = [];
  for (const p of team.participant ?? []) {
    const reference = p.member?.reference;
    const audience = reference ? audienceOf(reference) : undefined;
    if (!reference || !audience || members.some((m) => m.reference === reference)) continue;
    members.push({ reference, display: p.member?.display, audience, onShift: within(p.period, now) });
  }
  return members;
}

function target(m: TeamMember): Target {
  return { reference: m.reference, ...(m.display ? { display: m.display } : {}), audience: m.audience };
}

/**
 * Who an on-call team's message goes to: a page to the first participant on shift, anything else
 * to everyone on shift. When nobody is on shift the whole list gets it: a gap in the rota must not
 * swallow a page.
 */
export function teamTargets(team: CareTeam, page: boolean, now: Date): Target[] {
  const members = teamMembers(team, now);
  const onShift = members.filter((m) => m.onShift);
  if (onShift.length === 0) return members.map(target);
  return (page ? onShift.slice(0, 1) : onShift).map(target);
}

/** The request's recipients resolved to people (teams through their on-call lists), once each. */
export function resolveRecipients(
  request: CommunicationRequest,
  teams: ReadonlyMap<string, CareTeam>,
  now: Date,
): { targets: Target[]; unreachable: Unreachable[] } {
  const targets: Target[] = [];
  const unreachable: Unreachable[] = [];
  const add = (t: Target) => {
    if (!targets.some((x) => x.reference === t.reference)) targets.push(t);
  };
  for (const recipient of request.recipient ?? []) {
    const reference = recipient.reference;
    if (!reference) continue;
    const display = recipient.display;
    if (reference.startsWith('CareTeam/')) {
      const team = teams.get(reference);
      const members = team ? teamTargets(team, isPage(request), now) : [];
      if (members.length === 0) {
        unreachable.push({ reference, display, reason: team ? 'the on-call list has no one to notify' : 'on-call team not found' });
      }
      members.forEach(add);
      continue;
    }
    const audience = audienceOf(reference);
    if (audience) {
      add({ reference, ...(display ? { display } : {}), audience });
    } else {
      unreachable.push({ reference, display, reason: `cannot notify a ${reference.split('/')[0]}` });
    }
  }
  return { targets, unreachable };
}

function usable(cp: ContactPoint, now: Date): boolean {
  return Boolean(cp.value?.trim()) && cp.use !== 'old' && within(cp.period, now);
}

function best(points: ContactPoint[], accept: (cp: ContactPoint) => boolean): string | undefined {
  const ranked = points.filter(accept).sort((a, b) => (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER));
  return ranked[0]?.value?.trim();
}

export interface Addresses {
  sms?: string;
  email?: string;
}

/**
 * Where to text and email someone: an `sms` contact, or a mobile `phone`; an `email` contact;
 * the best ranked current one. A PractitionerRole uses its own contacts, else its Practitioner's.
 */
export function addressesOf(person: Addressable | undefined, practitioner: Practitioner | undefined, now: Date): Addresses {
  const own = (person?.telecom ?? []).filter((cp) => usable(cp, now));
  const fallback = person?.resourceType === 'PractitionerRole' ? (practitioner?.telecom ?? []).filter((cp) => usable(cp, now)) : [];
  const pick = (accept: (cp: ContactPoint) => boolean) => best(own, accept) ?? best(fallback, accept);
  const sms = pick((cp) => cp.system === 'sms' || (cp.system === 'phone' && cp.use === 'mobile'));
  const email = pick((cp) => cp.system === 'email');
  return { ...(sms ? { sms } : {}), ...(email ? { email } : {}) };
}

type Decision = 'permit' | 'deny' | undefined;

/**
 * One provision's answer for (family member, family-updates, now), children overriding their
 * parent (FHIR's nesting of exceptions), a deny among siblings winning. A permit must name the
 * family member and the purpose itself (docs/workflows.md); a deny applies to everyone and every
 * purpose it does not narrow.
 */
function decide(provision: ConsentProvision, actor: string, now: Date, inherited: Decision): Decision {
  if (!within(provision.period, now)) return undefined;
  const names = provision.actor?.some((a) => a.reference?.reference === actor) ?? false;
  const forPurpose = provision.purpose?.some((p) => p.system === CONSENT_PURPOSE_SYSTEM && p.code === FAMILY_UPDATES) ?? false;
  let own: Decision;
  if (provision.type === 'permit') {
    own = names && forPurpose ? 'permit' : undefined;
  } else if (provision.type === 'deny') {
    const actorApplies = !provision.actor?.length || names;
    const purposeApplies = !provision.purpose?.length || forPurpose;
    own = actorApplies && purposeApplies ? 'deny' : undefined;
  }
  const current = own ?? inherited;
  const children = (provision.provision ?? []).map((p) => decide(p, actor, now, undefined)).filter(Boolean);
  if (children.includes('deny')) return 'deny';
  if (children.includes('permit')) return 'permit';
  return current;
}

/**
 * True when the patient has an active Consent letting this family member (RelatedPerson
 * reference) receive family updates now, and none of the patient's active Consents denies it.
 */
export function familyConsent(consents: Consent[], relatedPerson: string, patient: string | undefined, now: Date): boolean {
  if (!patient) return false;
  const decisions = consents
    .filter((c) => c.status === 'active' && c.patient?.reference === patient && c.provision)
    .map((c) => decide(c.provision as ConsentProvision, relatedPerson, now, undefined));
  return decisions.includes('permit') && !decisions.includes('deny');
}

/** The reference string of a loaded resource (Practitioner/123). */
export function referenceOf(resource: { resourceType: string; id?: string }): string {
  return `${resource.resourceType}/${resource.id}`;
}
