import { MedplumClient, type WithId } from '@medplum/core';
import type {
  AllergyIntolerance,
  Bundle,
  Condition,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Project,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { createUser } from '../../auth/admin.ts';

let t: TestServer;
let ana: WithId<Patient>;
let bo: WithId<Patient>;
let org: WithId<Organization>;
let medication: WithId<Medication>;
let encounter: WithId<Encounter>;
let condition: WithId<Condition>;
let allergy: WithId<AllergyIntolerance>;
let order: WithId<MedicationRequest>;
let vital: WithId<Observation>;
let admissionTask: WithId<Task>;
let triageTask: WithId<Task>;
let aboutAna: WithId<Observation>;

const PASSWORD = 'correct horse battery staple';

async function everything(client: MedplumClient, patientId: string, query = ''): Promise<Bundle> {
  return client.get(client.fhirUrl('Patient', patientId, '$everything') + query, { cache: 'no-cache' }) as Promise<Bundle>;
}

const refs = (bundle: Bundle, mode = 'match') =>
  (bundle.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
const ref = (r: Resource) => `${r.resourceType}/${r.id}`;

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    const code = (err as { outcome?: { issue?: { code?: string }[] } }).outcome?.issue?.[0]?.code;
    return code === 'not-found' ? 404 : code === 'forbidden' ? 403 : 400;
  }
}

beforeAll(async () => {
  t = await startTestServer();
  const m = t.medplum;
  org = await m.createResource<Organization>({ resourceType: 'Organization', name: 'General Hospital' });
  ana = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Rivera', given: ['Ana'] }] });
  bo = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Bo'] }] });
  medication = await m.createResource<Medication>({
    resourceType: 'Medication',
    code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '723', display: 'amoxicillin' }] },
  });
  encounter = await m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: ref(ana) },
    serviceProvider: { reference: ref(org) },
    reasonCode: [{ text: 'chest pain' }],
  });
  condition = await m.createResource<Condition>({
    resourceType: 'Condition',
    subject: { reference: ref(ana) },
    code: { text: 'Asthma' },
  });
  allergy = await m.createResource<AllergyIntolerance>({
    resourceType: 'AllergyIntolerance',
    patient: { reference: ref(ana) },
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    code: { text: 'penicillin' },
    criticality: 'high',
  });
  order = await m.createResource<MedicationRequest>({
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: ref(ana) },
    medicationReference: { reference: ref(medication) },
  });
  vital = await m.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'heart rate' },
    subject: { reference: ref(ana) },
    valueQuantity: { value: 80 },
  });
  admissionTask = await m.createResource<Task>({
    resourceType: 'Task',
    status: 'ready',
    intent: 'order',
    code: { coding: [{ system: 'https://emergisphere.dev/fhir/CodeSystem/workflow-step', code: 'admission' }] },
    for: { reference: ref(ana) },
  });
  triageTask = await m.createResource<Task>({
    resourceType: 'Task',
    status: 'ready',
    intent: 'order',
    code: { coding: [{ system: 'https://emergisphere.dev/fhir/CodeSystem/workflow-step', code: 'triage' }] },
    for: { reference: ref(ana) },
  });
  // Points at Ana only through a parameter outside the compartment (Observation.focus): not hers.
  aboutAna = await m.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'note about a relative' },
    subject: { reference: ref(bo) },
    focus: [{ reference: ref(ana) }],
  });
  await m.createResource<Condition>({ resourceType: 'Condition', subject: { reference: ref(bo) }, code: { text: 'Gout' } });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('Patient/$everything', () => {
  test('the patient first, then her compartment, plus the medication and organisation they reference', async () => {
    const bundle = await everything(t.medplum, ana.id);
    expect(bundle.type).toBe('searchset');
    const matched = refs(bundle);
    expect(matched[0]).toBe(ref(ana));
    expect(matched.sort()).toEqual([ana, encounter, condition, allergy, order, vital, admissionTask, triageTask].map(ref).sort());
    expect(matched).not.toContain(ref(aboutAna));
    expect(matched).not.toContain(ref(bo));
    expect(bundle.total).toBe(8);
    expect(refs(bundle, 'include').sort()).toEqual([ref(medication), ref(org)].sort());
  });

  test('_type limits the types; types outside the compartment and unknown types are errors', async () => {
    const bundle = await everything(t.medplum, ana.id, '?_type=Condition,AllergyIntolerance');
    expect(refs(bundle).sort()).toEqual([ref(condition), ref(allergy)].sort());
    // The reads above were audited: the audit trail is there when asked for, and only then.
    const audit = await everything(t.medplum, ana.id, '?_type=AuditEvent');
    expect(refs(audit).length).toBeGreaterThan(0);
    expect(refs(audit).every((r) => r.startsWith('AuditEvent/'))).toBe(true);
    expect(await status(everything(t.medplum, ana.id, '?_type=Medication'))).toBe(400);
    expect(await status(everything(t.medplum, ana.id, '?_type=Nonsense'))).toBe(400);
    expect(await status(everything(t.medplum, ana.id, '?_since=yesterday'))).toBe(400);
    expect(await status(everything(t.medplum, ana.id, '?_count=-1'))).toBe(400);
    expect(await status(everything(t.medplum, 'no-such-patient'))).toBe(404);
  });

  test('_since returns only what changed since', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const since = new Date().toISOString();
    await t.medplum.updateResource<Condition>({ ...condition, note: [{ text: 'worse at night' }] });
    const bundle = await everything(t.medplum, ana.id, `?_since=${encodeURIComponent(since)}`);
    expect(refs(bundle)).toEqual([ref(condition)]);
    expect(bundle.total).toBe(1);
  });

  test('_count pages through everything once, following the next links', async () => {
    const seen: string[] = [];
    let bundle = await everything(t.medplum, ana.id, '?_count=3');
    let pages = 1;
    seen.push(...refs(bundle));
    for (
      let next = bundle.link?.find((l) => l.relation === 'next')?.url;
      next;
      next = bundle.link?.find((l) => l.relation === 'next')?.url
    ) {
      expect(next).toContain(`Patient/${ana.id}/$everything?`);
      bundle = (await t.medplum.get(next, { cache: 'no-cache' })) as Bundle;
      seen.push(...refs(bundle));
      pages++;
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(8);
    expect(seen[0]).toBe(ref(ana));
  });

  test('POST with a Parameters body', async () => {
    const bundle = (await t.medplum.post(t.medplum.fhirUrl('Patient', ana.id, '$everything'), {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'MedicationRequest' },
        { name: '_count', valueInteger: 10 },
      ],
    })) as Bundle;
    expect(refs(bundle)).toEqual([ref(order)]);
    expect(refs(bundle, 'include')).toEqual([ref(medication)]);
  });

  test('a restricted role sees only what its policy allows, with its hidden fields removed', async () => {
    const project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
    await createUser(t.server.app.repo(), project, {
      email: 'clerk@example.org',
      password: PASSWORD,
      firstName: 'Reg',
      lastName: 'Clerk',
      role: 'registration-clerk',
    });
    const clerk = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    await clerk.processCode((await clerk.startLogin({ email: 'clerk@example.org', password: PASSWORD })).code as string);

    const bundle = await everything(clerk, ana.id);
    // Patient and Encounter in full, Tasks only by the role's criteria (admission), no clinical records.
    expect(refs(bundle).sort()).toEqual([ref(ana), ref(encounter), ref(admissionTask)].sort());
    expect(bundle.total).toBe(3);
    const enc = bundle.entry?.find((e) => e.resource?.resourceType === 'Encounter')?.resource as Encounter;
    expect(enc.reasonCode).toBeUndefined();
    expect(enc.status).toBe('arrived');
    // Organization is readable for the clerk; Medication is not, so it is left out.
    expect(refs(bundle, 'include')).toEqual([ref(org)]);

    await createUser(t.server.app.repo(), project, {
      email: 'cousin@example.org',
      password: PASSWORD,
      firstName: 'Cou',
      lastName: 'Sin',
      role: 'family-member',
      profileType: 'RelatedPerson',
      parameters: { patient: ref(ana) },
    });
    const cousin = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    await cousin.processCode((await cousin.startLogin({ email: 'cousin@example.org', password: PASSWORD })).code as string);
    // The family role has no grant on Patient: the patient does not exist for it.
    expect(await status(everything(cousin, ana.id))).toBe(403);
  });
});
