import type { Resource } from '@medplum/fhirtypes';
import { ResourceTable } from '@medplum/react';

export function DetailsTab({ resource }: { resource: Resource }) {
  return <ResourceTable value={resource} profileUrl={resource.meta?.profile?.[0]} forceUseInput />;
}
