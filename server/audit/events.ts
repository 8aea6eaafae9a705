import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, Reference } from '@medplum/fhirtypes';

// Codes from the IHE Basic Audit Log Patterns (BALP) profile and the FHIR audit vocabularies.
const REST_TYPE: Coding = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' };
const AUTH_TYPE: Coding = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' };
const LOGIN_SUBTYPE: Coding = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110122', display: 'Login' };
const INTERACTION_SYSTEM = 'http://hl7.org/fhir/restful-interaction';
const SOURCE = {
  observer: { display: 'EmergiSphere FHIR server' },
  type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
};

export type Interaction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'batch'
  | 'transaction'
  | 'operation';

const ACTION: Record<Interaction, AuditEvent['action']> = {
  read: 'R',
  vread: 'R',
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  create: 'C',
  'search-type': 'E',
  'search-system': 'E',
  batch: 'E',
  transaction: 'E',
  operation: 'E',
};

export interface Actor {
  /** The caller's profile (Practitioner/…, ClientApplication/…); absent when unauthenticated. */
  who?: Reference;
  /** The OAuth client the token belongs to. */
  clientId?: string;
  ip: string;
}

/** FHIR AuditEvent.outcome from an HTTP status: 0 success, 4 minor failure, 8 serious failure. */
export function outcomeFromStatus(status: number): AuditEvent['outcome'] {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return '8';
}

function agent(actor: Actor): AuditEventAgent {
  return {
    type: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }],
    },
    who: (actor.who ?? { display: 'anonymous' }) as AuditEventAgent['who'],
    ...(actor.clientId ? { altId: actor.clientId } : {}),
    requestor: true,
    network: { address: actor.ip, type: '2' },
  };
}

/**
 * The facts of one FHIR REST request's AuditEvent: what the request path records (as JSON, a line
 * of an `audit_record_batch` row) and the event is built from (restAuditEvent).
 */
export interface RestAuditFacts {
  interaction: Interaction;
  actor: Actor;
  status: number;
  /** Resources the request was about (read, written, deleted). */
  what?: string[];
  /** The search or operation query, as sent. */
  query?: string;
  description?: string;
  /** When the request was answered (an instant); now when absent. */
  recorded?: string;
}

/** The audit record of one FHIR REST request (BALP: RESTful activity). */
export function restAuditEvent(params: RestAuditFacts): AuditEvent {
  const entity: AuditEventEntity[] = (params.what ?? []).map((reference) => ({
    what: { reference },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
  }));
  if (params.query) {
    entity.push({
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
      query: Buffer.from(params.query).toString('base64'),
    });
  }
  return {
    resourceType: 'AuditEvent',
    type: REST_TYPE,
    subtype: [{ system: INTERACTION_SYSTEM, code: params.interaction }],
    action: ACTION[params.interaction],
    recorded: params.recorded ?? new Date().toISOString(),
    outcome: outcomeFromStatus(params.status),
    ...(params.description ? { outcomeDesc: params.description } : {}),
    agent: [agent(params.actor)],
    source: SOURCE,
    ...(entity.length ? { entity } : {}),
  };
}

/** The audit record of a sign-in attempt. The email is recorded as the claimed identity. */
export function loginAuditEvent(params: { email: string; actor: Actor; success: boolean; reason?: string }): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    type: AUTH_TYPE,
    subtype: [LOGIN_SUBTYPE],
    action: 'E',
    recorded: new Date().toISOString(),
    outcome: params.success ? '0' : '4',
    ...(params.reason ? { outcomeDesc: params.reason } : {}),
    agent: [{ ...agent(params.actor), who: (params.actor.who ?? { display: params.email }) as AuditEventAgent['who'], name: params.email }],
    source: SOURCE,
  };
}

const EXPORT_TYPE: Coding = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106', display: 'Export' };
const OBJECT: Coding = { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' };

/**
 * The audit record of a finished (or failed) Bulk Data export: who took data out of the system,
 * of which types, since when, and how many resources of each type.
 */
export function exportAuditEvent(params: {
  who: Reference;
  clientId?: string;
  jobId: string;
  requestUrl: string;
  since?: string;
  counts: { type: string; count: number }[];
  failure?: string;
}): AuditEvent {
  const total = params.counts.reduce((n, c) => n + c.count, 0);
  const detail = [
    { type: 'job', valueString: params.jobId },
    { type: 'resources', valueString: String(total) },
    ...(params.since ? [{ type: '_since', valueString: params.since }] : []),
  ];
  return {
    resourceType: 'AuditEvent',
    type: EXPORT_TYPE,
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'operation' }],
    action: 'R',
    recorded: new Date().toISOString(),
    outcome: params.failure ? '8' : '0',
    outcomeDesc: params.failure ?? `Exported ${total} resources of ${params.counts.length} types`,
    agent: [
      {
        type: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' },
          ],
        },
        who: params.who as AuditEventAgent['who'],
        ...(params.clientId ? { altId: params.clientId } : {}),
        requestor: true,
      },
    ],
    source: SOURCE,
    entity: [
      {
        type: OBJECT,
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
        query: Buffer.from(params.requestUrl).toString('base64'),
        detail,
      },
      ...params.counts.map(
        (c): AuditEventEntity => ({ type: OBJECT, name: c.type, detail: [{ type: 'count', valueString: String(c.count) }] }),
      ),
    ],
  };
}
