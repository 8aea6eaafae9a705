/**
 * Assesses one emergency encounter against the jurisdiction's rules and writes what it finds.
 * Used by the workflow's `legal` step and again whenever a diagnosis or a laboratory result is
 * added to the encounter (diagnoses and labs come after triage); findings already written are
 * not written again.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Condition, Encounter, Location, Observation, Organization, Patient, Reference } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';
import { type Evaluation, evaluate, evidenceLines } from './evaluate.ts';
import { caseFacts } from './facts.ts';
import { AUTHORITY_SYSTEM, dueTime, type FindingContext, findingTransaction } from './fhir.ts';
import { type Jurisdiction, resolveJurisdiction } from './jurisdiction.ts';
import { availableJurisdictions, resolveRuleSet } from './rules.ts';

const ON_CALL_SYSTEM = `${ES}/on-call`;

export interface WrittenFinding {
  finding: string;
  title: string;
  action: string;
  issue: string;
  flag: string;
  report: string;
  case?: string;
  page?: string;
  /** False when this finding had been written before for this encounter. */
  created: boolean;
  due: string;
}

export interface Assessment {
  jurisdiction: Jurisdiction;
  rules: string;
  evaluation: Evaluation;
  written: WrittenFinding[];
}

type Secrets = BotEvent['secrets'];

async function readOptional<T>(medplum: MedplumClient, reference: string | undefined): Promise<WithId<T> | undefined> {
  if (!reference?.includes('/')) return undefined;
  return (await medplum.readReference({ reference } as Reference).catch(() => undefined)) as WithId<T> | undefined;
}

/** The authority's Organization (by identifier ES/authority|<jurisdiction>/<type>, then |<type>), else just its name. */
async function authorityOf(medplum: MedplumClient, jurisdiction: string, type: string, display: string): Promise<Reference> {
  for (const value of [`${jurisdiction}/${type}`, type]) {
    const org = await medplum.searchOne('Organization', { identifier: `${AUTHORITY_SYSTEM}|${value}` }, { cache: 'no-cache' });
    if (org) return { reference: `Organization/${org.id}`, display: org.name ?? display };
  }
  return { display };
}

async function visitConditions(medplum: MedplumClient, encounter: Encounter, patient: Patient): Promise<Condition[]> {
  const since = encounter.period?.start ?? encounter.meta?.lastUpdated;
  const [linked, recent] = await Promise.all([
    medplum.searchResources('Condition', { encounter: `Encounter/${encounter.id}`, _count: '200' }, { cache: 'no-cache' }),
    since
      ? medplum.searchResources(
          'Condition',
          { patient: `Patient/${patient.id}`, 'recorded-date': `ge${since}`, _count: '200' },
          { cache: 'no-cache' },
        )
      : Promise.resolve([]),
  ]);
  return [...new Map([...linked, ...recent].map((c) => [c.id, c])).values()];
}

export async function assessEncounter(
  medplum: MedplumClient,
  encounter: WithId<Encounter>,
  patient: WithId<Patient>,
  secrets: Secrets,
): Promise<Assessment> {
  const now = new Date().toISOString();
  const [conditions, observations, location, organization, team] = await Promise.all([
    visitConditions(medplum, encounter, patient),
    medplum.searchResources(
      'Observation',
      { encounter: `Encounter/${encounter.id}`, category: 'laboratory', _count: '200' },
      { cache: 'no-cache' },
    ),
    readOptional<Location>(medplum, encounter.location?.[0]?.location?.reference),
    readOptional<Organization>(medplum, encounter.serviceProvider?.reference),
    medplum.searchOne('CareTeam', { identifier: `${ON_CALL_SYSTEM}|legal-liaison` }, { cache: 'no-cache' }),
  ]);
  const jurisdiction = resolveJurisdiction(
    {
      location: location && { reference: `Location/${location.id}`, address: location.address },
      organization: organization && { reference: `Organization/${organization.id}`, address: organization.address },
      configured: secrets?.LEGAL_JURISDICTION?.valueString,
    },
    availableJurisdictions(),
  );
  const set = resolveRuleSet(jurisdiction.code);
  const facts = caseFacts({ patient, encounter, conditions, observations: observations as Observation[], at: now });
  const evaluation = evaluate(set, facts);
  const written: WrittenFinding[] = [];
  for (const finding of evaluation.findings) {
    const rule = finding.rule;
    const ctx: FindingContext = {
      patient,
      encounter,
      now,
      authority: rule.authority ? await authorityOf(medplum, set.jurisdiction, rule.authority.type, rule.authority.display) : undefined,
      liaisonTeam: team ? { reference: `CareTeam/${team.id}`, display: team.name } : undefined,
      facility: organization?.name,
    };
    const { entries, slots } = findingTransaction(finding, ctx);
    const response = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    const at = (slot: number | undefined) =>
      slot === undefined ? undefined : (response.entry?.[slot]?.response?.location?.split('/_history')[0] as string);
    written.push({
      finding: rule.finding,
      title: rule.title,
      action: rule.action,
      issue: at(slots.issue) as string,
      flag: at(slots.flag) as string,
      report: at(slots.report) as string,
      ...(slots.case !== undefined ? { case: at(slots.case) } : {}),
      ...(slots.page !== undefined ? { page: at(slots.page) } : {}),
      created: !!response.entry?.[slots.issue]?.response?.status?.startsWith('201'),
      due: dueTime(finding, now),
    });
  }
  return { jurisdiction, rules: `${set.jurisdiction} ${set.version}`, evaluation, written };
}

/** The assessment as the rationale shown with the step (for staff; the Task output is hidden from family). */
export function assessmentRationale(a: Assessment): string {
  const lines = [`Jurisdiction: ${a.jurisdiction.reason} (rules ${a.rules}).`];
  if (a.evaluation.findings.length === 0) lines.push('No mandatory-report rule is met.');
  for (const f of a.evaluation.findings) {
    const w = a.written.find((x) => x.finding === f.rule.finding);
    const basis = f.rule.legalBasis;
    lines.push(
      `${f.rule.title} (${f.rule.action}, rule ${f.jurisdiction}/${f.rule.id}; ${basis.statute}; HIPAA ${basis.hipaa})` +
        (w ? `: ${w.report}${w.created ? '' : ' (written before)'}, due ${w.due}` : ''),
      ...evidenceLines(f).map((l) => `  ${l}`),
    );
  }
  for (const s of a.evaluation.superseded) lines.push(`${s.finding}: covered by ${s.by}.`);
  lines.push(...a.evaluation.notes);
  return lines.join('\n');
}
