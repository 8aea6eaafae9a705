import { Anchor, Stack, Text, Title } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import type { Bundle, Resource, ResourceType } from '@medplum/fhirtypes';
import { ResourceDiff, ResourceTable, useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { ErrorAlert, Loading } from './ResourcePage.tsx';

/** `/:resourceType/:id/_history/:versionId` (the links of the history table): one version and its diff. */
export function VersionPage() {
  const medplum = useMedplum();
  const { resourceType, id, versionId } = useParams() as { resourceType: ResourceType; id: string; versionId: string };
  const [version, setVersion] = useState<Resource>();
  const [previous, setPrevious] = useState<Resource>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    Promise.all([medplum.readVersion(resourceType, id, versionId), medplum.readHistory(resourceType, id)])
      .then(([v, history]: [Resource, Bundle]) => {
        const entries = history.entry ?? [];
        const index = entries.findIndex((e) => e.resource?.meta?.versionId === versionId);
        setVersion(v);
        setPrevious(index >= 0 ? entries[index + 1]?.resource : undefined);
      })
      .catch((err) => setError(normalizeErrorString(err)));
  }, [medplum, resourceType, id, versionId]);
  if (error) return <ErrorAlert title="This version could not be loaded">{error}</ErrorAlert>;
  if (!version) return <Loading label="Loading the version" />;
  return (
    <Stack>
      <Title order={2} size="h4">
        {resourceType}/{id}, version {versionId}
      </Title>
      <Anchor component={Link} to={`/${resourceType}/${id}/history`}>
        All versions
      </Anchor>
      {previous ? (
        <ResourceDiff original={previous} revised={version} />
      ) : (
        <Text c="dimmed">The first version (or the first after a deletion): nothing to compare with.</Text>
      )}
      <ResourceTable value={version} forceUseInput />
    </Stack>
  );
}
