/**
 * `POST Task/$approve-report`: the legal liaison (or the reporting clinician) decides a legal task.
 *
 * Approving a report writes, in one transaction: the report as a `Communication` to the
 * authority; the disclosure as an `AuditEvent` (who disclosed what to whom, when, and the purpose
 * of use with its 45 CFR 164.512 paragraph — the accounting of disclosures); a `Provenance` of the
 * decision; the Task completed with its outputs; the legal case's history. When the authority has
 * an electronic reporting desk (a PractitionerRole of the authority's Organization with a
 * telecom), a CommunicationRequest hands the report to the communication agent to deliver.
 * Declining (reason required) records the decision and discloses nothing. The Task is updated
 * with If-Match, so two people deciding at once cannot both disclose.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type {
  AuditEvent,
  BundleEntry,
  Communication,
  CommunicationRequest,
  Parameters,
  PractitionerRole,
  Provenance,
  Reference,
  Task,
} from '@medplum/fhirtypes';
import { COMMUNICATION_CATEGORY_SYSTEM } from '../lib/workflow.ts';
import { HIPAA_BASIS_SYSTEM, LEGAL_EVENT_SYSTEM, LEGAL_TASK_SYSTEM, PARAM, param, restricted } from './fhir.ts';
import { BadRequest, codeParam, describeParty, parameters, referenceParam, staffRequester, stringParam } from './operations-input.ts';

const DECISIONS = ['approve', 'decline'] as const;
export type Decision = (typeof DECISIONS)[number];
const OPEN = new Set<Task['status']>(['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold']);
const URNS = {
  communication: 'urn:uuid:2b7d3e00-0001-4000-8000-000000000001',
  audit: 'urn:uuid:2b7d3e00-0002-4000-8000-000000000002',
  provenance: 'urn:uuid:2b7d3e00-0003-4000-8000-000000000003',
  delivery: 'urn:uuid:2b7d3e00-0004-4000-8000-000000000004',
} as const;
const PURPOSE_DISPLAY: Record<string, string> = { PUBHLTH: 'public health', THREAT: 'threat', HLEGAL: 'legal' };

export interface ApproveRequest {
  task: Reference;
  decision: Decision;
  reason?: string;
  /** The report as sent; the draft on the Task when absent. */
  report?: string;
}

export function parseApprove(input: unknown): ApproveRequest {
  const params = parameters(input);
  const req: ApproveRequest = {
    task: referenceParam(params, 'task', { required: true, types: ['Task'], literal: true }) as Reference,
    decision: codeParam(params, 'decision', DECISIONS),
    reason: stringParam(params, 'reason'),
    report: stringParam(params, 'report'),
  };
  if (req.decision === 'decline' && !req.reason) throw new BadRequest('Declining needs a reason');
  return req;
}

export interface DecisionContext {
  task: WithId<Task>;
  caseTask?: WithId<Task>;
  requester: Reference;
  now: string;
  /** The authority's electronic reporting desk, if it has one. */
  desk?: Reference;
}

const code = (task: Task) => task.code?.coding?.find((c) => c.system === LEGAL_TASK_SYSTEM)?.code;

export function checkDecidable(task: Task): void {
  const kind = code(task);
  if (kind !== 'mandatory-report' && kind !== 'legal-documentation') {
    throw new BadRequest(`Task/${task.id} is not a legal report or documentation task`);
  }
  if (!OPEN.has(task.status)) {
    throw new BadRequest(`Task/${task.id} was already decided (status ${task.status})`);
  }
}

function ifMatch(t: WithId<Task>): string {
  return `W/"${t.meta?.versionId}"`;
}

function caseUpdate(ctx: DecisionContext, status: string): BundleEntry[] {
  if (!ctx.caseTask) return [];
  const c = ctx.caseTask;
  return [
    {
      resource: {
        ...c,
        businessStatus: { text: status },
        relevantHistory: [...(c.relevantHistory ?? []), { reference: URNS.provenance }],
      },
      request: { method: 'PUT', url: `Task/${c.id}`, ifMatch: ifMatch(c) },
    },
  ];
}

/** The transaction for an approval; pure. */
export function approvalEntries(req: ApproveRequest, ctx: DecisionContext): BundleEntry[] {
  const { task, requester, now } = ctx;
  const action = param(task.input, PARAM.action)?.valueCode;
  const authority = param(task.input, PARAM.authority)?.valueReference;
  const purpose = param(task.input, PARAM.purpose)?.valueCode ?? 'HLEGAL';
  const hipaa = param(task.input, PARAM.hipaa)?.valueString ?? '';
  const statute = param(task.input, PARAM.statute)?.valueString ?? '';
  const text = req.report ?? param(task.input, PARAM.draft)?.valueString ?? task.description ?? '';
  const discloses = code(task) === 'mandatory-report' && action !== 'document';
  const purposeOfUse = {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: purpose, display: PURPOSE_DISPLAY[purpose] },
      ...(hipaa ? [{ system: HIPAA_BASIS_SYSTEM, code: hipaa.replace(/^45 CFR /, ''), display: hipaa }] : []),
    ],
    text: `${statute}${hipaa ? `; ${hipaa}` : ''}`,
  };
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [{ reference: `Task/${task.id}` }, ...(discloses ? [{ reference: URNS.communication }] : [])],
    occurredDateTime: now,
    recorded: now,
    activity: {
      coding: [{ system: LEGAL_EVENT_SYSTEM, code: 'report-approved', display: 'Report approved' }],
      text: discloses ? `Report approved and disclosed to ${describeParty(authority)}` : 'Documentation completed',
    },
    reason: [purposeOfUse],
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'verifier', display: 'Verifier' }],
        },
        who: requester as Provenance['agent'][number]['who'],
      },
    ],
  };
  const entries: BundleEntry[] = [];
  const outputs: Task['output'] = [{ type: { text: PARAM.decision }, valueCode: 'approve' }];
  if (discloses) {
    const communication: Communication = {
      resourceType: 'Communication',
      status: 'completed',
      category: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification' }] },
        { coding: [{ system: LEGAL_TASK_SYSTEM, code: 'mandatory-report', display: 'Mandatory report' }] },
      ],
      priority: task.priority === 'stat' ? 'stat' : 'urgent',
      subject: task.for as Communication['subject'],
      encounter: task.encounter,
      basedOn: [{ reference: `Task/${task.id}` }, ...(ctx.desk ? [{ reference: URNS.delivery }] : [])],
      about: [...(task.focus ? [task.focus] : []), ...(ctx.caseTask ? [{ reference: `Task/${ctx.caseTask.id}` }] : [])],
      recipient: authority ? [authority as NonNullable<Communication['recipient']>[number]] : [],
      sender: requester as Communication['sender'],
      sent: now,
      reasonCode: [purposeOfUse],
      payload: [{ contentString: text }],
      note: [
        {
          text: ctx.desk
            ? `Delivered electronically to ${describeParty(ctx.desk)} through the communication agent.`
            : 'Made by the approver by telephone or the authority’s form; recorded here on approval.',
        },
      ],
    };
    const audit: AuditEvent = {
      resourceType: 'AuditEvent',
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106', display: 'Export' },
      subtype: [{ system: LEGAL_EVENT_SYSTEM, code: 'disclosure', display: 'Disclosure of protected health information' }],
      action: 'R',
      recorded: now,
      outcome: '0',
      outcomeDesc: `Mandatory report disclosed to ${describeParty(authority)} under ${statute} (${hipaa})`,
      purposeOfEvent: [purposeOfUse],
      agent: [
        { who: requester as AuditEvent['agent'][number]['who'], requestor: true, type: { text: 'disclosing staff member' } },
        ...(authority
          ? [{ who: authority as AuditEvent['agent'][number]['who'], requestor: false, type: { text: 'recipient (authority)' } }]
          : []),
      ],
      source: { observer: { display: 'EmergiSphere legal liaison agent' } },
      entity: [
        {
          what: task.for,
          type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
          role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
        },
        {
          what: { reference: URNS.communication },
          type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
          role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '3', display: 'Report' },
          description: text.split('\n')[0],
        },
        ...(task.focus ? [{ what: task.focus, description: 'the finding' }] : []),
      ],
    };
    entries.push(
      { fullUrl: URNS.communication, resource: restricted(communication), request: { method: 'POST', url: 'Communication' } },
      { fullUrl: URNS.audit, resource: restricted(audit), request: { method: 'POST', url: 'AuditEvent' } },
    );
    if (ctx.desk) {
      const delivery: CommunicationRequest = {
        resourceType: 'CommunicationRequest',
        status: 'active',
        category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'staff-notice' }] }],
        priority: 'urgent',
        subject: task.for as CommunicationRequest['subject'],
        about: [{ reference: URNS.communication }],
        basedOn: [{ reference: `Task/${task.id}` }],
        recipient: [ctx.desk as NonNullable<CommunicationRequest['recipient']>[number]],
        requester: requester as CommunicationRequest['requester'],
        authoredOn: now,
        reasonCode: [purposeOfUse],
        payload: [{ contentString: text }],
      };
      entries.push({ fullUrl: URNS.delivery, resource: restricted(delivery), request: { method: 'POST', url: 'CommunicationRequest' } });
    }
    outputs.push({ type: { text: PARAM.report }, valueReference: { reference: URNS.communication } });
    outputs.push({ type: { text: PARAM.disclosure }, valueReference: { reference: URNS.audit } });
  }
  entries.push(
    { fullUrl: URNS.provenance, resource: restricted(provenance), request: { method: 'POST', url: 'Provenance' } },
    {
      resource: {
        ...task,
        status: 'completed',
        businessStatus: { text: discloses ? `reported to ${authority?.display ?? 'the authority'}` : 'documented' },
        lastModified: now,
        executionPeriod: { ...task.executionPeriod, end: now },
        output: [...(task.output ?? []), ...outputs],
        relevantHistory: [...(task.relevantHistory ?? []), { reference: URNS.provenance }],
      },
      request: { method: 'PUT', url: `Task/${task.id}`, ifMatch: ifMatch(task) },
    },
    ...caseUpdate(ctx, discloses ? `reported to ${authority?.display ?? 'the authority'}` : 'documented'),
  );
  return entries;
}

/** The transaction for declining: the decision and its reason, nothing disclosed; pure. */
export function declineEntries(req: ApproveRequest, ctx: DecisionContext): BundleEntry[] {
  const { task, requester, now } = ctx;
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [{ reference: `Task/${task.id}` }],
    occurredDateTime: now,
    recorded: now,
    activity: { coding: [{ system: LEGAL_EVENT_SYSTEM, code: 'report-declined', display: 'Report declined' }], text: req.reason },
    reason: [{ text: req.reason }],
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'verifier', display: 'Verifier' }],
        },
        who: requester as Provenance['agent'][number]['who'],
      },
    ],
  };
  return [
    { fullUrl: URNS.provenance, resource: restricted(provenance), request: { method: 'POST', url: 'Provenance' } },
    {
      resource: {
        ...task,
        status: 'rejected',
        statusReason: { text: req.reason },
        businessStatus: { text: 'declined: not reported' },
        lastModified: now,
        executionPeriod: { ...task.executionPeriod, end: now },
        output: [...(task.output ?? []), { type: { text: PARAM.decision }, valueCode: 'decline' }],
        relevantHistory: [...(task.relevantHistory ?? []), { reference: URNS.provenance }],
      },
      request: { method: 'PUT', url: `Task/${task.id}`, ifMatch: ifMatch(task) },
    },
    ...caseUpdate(ctx, 'report declined'),
  ];
}

/** The authority's reporting desk: a PractitionerRole of its Organization that can be reached. */
async function deskOf(medplum: MedplumClient, authority: Reference | undefined): Promise<Reference | undefined> {
  if (!authority?.reference?.startsWith('Organization/')) return undefined;
  const roles: PractitionerRole[] = await medplum.searchResources(
    'PractitionerRole',
    { organization: authority.reference, _count: '20' },
    { cache: 'no-cache' },
  );
  const desk = roles.find(
    (r) => r.active !== false && r.telecom?.some((t) => t.value && (t.system === 'email' || t.system === 'sms' || t.system === 'phone')),
  );
  return desk ? { reference: `PractitionerRole/${desk.id}`, display: desk.code?.[0]?.text ?? authority.display } : undefined;
}

export async function approveReport(medplum: MedplumClient, input: unknown, requester: Reference | undefined): Promise<Parameters> {
  const who = staffRequester(requester);
  const req = parseApprove(input);
  const task = (await medplum.readReference(req.task)) as WithId<Task>;
  checkDecidable(task);
  const casePart = task.partOf?.[0]?.reference;
  const caseTask = casePart ? ((await medplum.readReference({ reference: casePart })) as WithId<Task>) : undefined;
  const now = new Date().toISOString();
  const desk = req.decision === 'approve' ? await deskOf(medplum, param(task.input, PARAM.authority)?.valueReference) : undefined;
  const ctx: DecisionContext = { task, caseTask, requester: who, now, desk };
  const entries = req.decision === 'approve' ? approvalEntries(req, ctx) : declineEntries(req, ctx);
  const response = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries });
  const out: Parameters['parameter'] = [{ name: 'decision', valueCode: req.decision }];
  entries.forEach((e, i) => {
    const location = response.entry?.[i]?.response?.location?.split('/_history')[0];
    const name = { Communication: 'communication', AuditEvent: 'disclosure', Provenance: 'provenance', CommunicationRequest: 'delivery' }[
      e.resource?.resourceType as string
    ];
    if (name && location) out.push({ name, valueReference: { reference: location } });
  });
  console.log(`Task/${task.id}: ${req.decision} by ${who.reference}${desk ? `; delivery through ${desk.reference}` : ''}`);
  return { resourceType: 'Parameters', parameter: out };
}
