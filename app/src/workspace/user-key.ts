import type { MedplumClient } from '@medplum/core';

/** Whose remembered searches these are: the signed-in profile (one workstation, many users). */
export function userKey(medplum: MedplumClient): string {
  const profile = medplum.getProfile();
  return profile ? `${profile.resourceType}/${profile.id}` : 'anonymous';
}
