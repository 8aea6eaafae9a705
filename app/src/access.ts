import type { MedplumClient } from '@medplum/core';

/**
 * Whether the signed-in user's role may read a resource type. The server enforces access on every
 * request; the app uses this only to hide what would always be empty (a clerk sees no clinical notes).
 */
export function canRead(medplum: MedplumClient, resourceType: string): boolean {
  const policy = medplum.getAccessPolicy();
  if (!policy?.resource) return true;
  return policy.resource.some((r) => r.resourceType === resourceType || r.resourceType === '*');
}

export function canWrite(medplum: MedplumClient, resourceType: string): boolean {
  const policy = medplum.getAccessPolicy();
  if (!policy?.resource) return true;
  return policy.resource.some((r) => (r.resourceType === resourceType || r.resourceType === '*') && !r.readonly);
}

/** Whether the role may read any resource type at all (the "Resources" workspace is then useful). */
export function canReadAny(medplum: MedplumClient): boolean {
  const policy = medplum.getAccessPolicy();
  return !policy?.resource || policy.resource.length > 0;
}

/** Whether the role may write some resource type (a Batch could then do something). */
export function canWriteAny(medplum: MedplumClient): boolean {
  const policy = medplum.getAccessPolicy();
  return !policy?.resource || policy.resource.some((r) => !r.readonly);
}

/**
 * Overrides and bed moves are for clinicians (the server checks it again). Clerks are
 * Practitioners too; what sets clinicians apart is that their role reads clinical results.
 */
export function isClinician(medplum: MedplumClient): boolean {
  return medplum.getProfile()?.resourceType === 'Practitioner' && canRead(medplum, 'Observation');
}
