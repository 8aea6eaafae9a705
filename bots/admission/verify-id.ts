/**
 * ID verification: the text of the patient's ID document — a photo read by the server's
 * `Binary/{id}/$ocr`, or barcode / MRZ text from a scanner — compared with the record. A mismatch
 * becomes a `DetectedIssue` for the registration desk; no document is a note, never a hold-up.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Attachment, DetectedIssue, DocumentReference, Parameters, Patient } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import type { StepContext, StepOutput } from '../lib/workflow-step.ts';
import { AGENT } from './agent.ts';
import { BOT_NAME, DOCUMENT_TYPE_SYSTEM, ID_MISMATCH_ISSUE } from './codes.ts';
import { compareWithRecord, readIdentity } from './id-document.ts';

export async function latestDocument(
  medplum: MedplumClient,
  patientId: string,
  type: string,
): Promise<WithId<DocumentReference> | undefined> {
  const docs = await medplum.searchResources(
    'DocumentReference',
    { subject: `Patient/${patientId}`, type: `${DOCUMENT_TYPE_SYSTEM}|${type}`, status: 'current', _sort: '-_lastUpdated', _count: '1' },
    { cache: 'no-cache' },
  );
  return docs[0];
}

/** The text of a document: scanner text as is, an image through the server's OCR. */
export async function documentText(medplum: MedplumClient, doc: DocumentReference): Promise<string> {
  const texts: string[] = [];
  for (const content of doc.content ?? []) {
    texts.push(await attachmentText(medplum, content.attachment));
  }
  return texts.filter(Boolean).join('\n');
}

async function attachmentText(medplum: MedplumClient, attachment: Attachment): Promise<string> {
  const type = (attachment.contentType ?? '').toLowerCase();
  const binaryId = /(?:^|\/)Binary\/([A-Za-z0-9\-.]{1,64})$/.exec(attachment.url ?? '')?.[1];
  if (type.startsWith('text/')) {
    if (attachment.data) return Buffer.from(attachment.data, 'base64').toString('utf8');
    if (binaryId) return (await medplum.download(medplum.fhirUrl('Binary', binaryId).toString())).text();
    return '';
  }
  if (type.startsWith('image/') && binaryId) {
    const result = (await medplum.post(medplum.fhirUrl('Binary', binaryId, '$ocr'), { resourceType: 'Parameters' })) as Parameters;
    return result.parameter?.find((p) => p.name === 'text')?.valueString ?? '';
  }
  return '';
}

export interface Verification {
  outputs: StepOutput[];
  line: string;
}

export async function verifyId(ctx: StepContext, patient: WithId<Patient>): Promise<Verification> {
  const doc = await latestDocument(ctx.medplum, patient.id, 'id-card');
  if (!doc) return { outputs: [], line: 'ID: no ID document on file; the registration desk checks ID when the patient can show one.' };
  const text = await documentText(ctx.medplum, doc);
  const identity = readIdentity(text);
  if (!identity) {
    return {
      outputs: [],
      line: `ID: DocumentReference/${doc.id} could not be read (no name or birth date found); the desk checks it by eye.`,
    };
  }
  const check = compareWithRecord(identity, patient);
  const from = `${identity.source === 'mrz' ? 'machine-readable zone' : identity.source === 'barcode' ? 'barcode' : 'printed text'} of DocumentReference/${doc.id}`;
  if (check.matches) return { outputs: [], line: `ID: the ${from} matches the record (${check.checked.join(', ')}).` };
  const detail = `The ${from} does not match Patient/${patient.id}: ${check.mismatches.join('; ')}. Check the patient's identity before anything is released or billed.`;
  const issue = await createOnce<DetectedIssue>(ctx.medplum, {
    bot: BOT_NAME,
    trigger: ctx.trigger,
    effect: `id-mismatch:${doc.id}`,
    resource: {
      resourceType: 'DetectedIssue',
      status: 'preliminary',
      code: { coding: [ID_MISMATCH_ISSUE], text: 'ID document does not match the record' },
      severity: 'moderate',
      patient: { reference: `Patient/${patient.id}` },
      identifiedDateTime: new Date().toISOString(),
      author: AGENT as DetectedIssue['author'],
      detail,
      evidence: [{ detail: [{ reference: `DocumentReference/${doc.id}` }] }],
    },
  });
  return { outputs: [{ type: 'ID mismatch', reference: `DetectedIssue/${issue.id}` }], line: `ID: ${detail}` };
}
