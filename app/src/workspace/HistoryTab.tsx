import { Accordion, Stack, Text, Title } from '@mantine/core';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { Bundle, ResourceType } from '@medplum/fhirtypes';
import { ResourceDiff, ResourceHistoryTable, useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { consecutiveChanges } from './history.ts';
import { ErrorAlert, Loading } from './ResourcePage.tsx';

/** Every version, and what changed from each to the next. */
export function HistoryTab({ resourceType, id }: { resourceType: ResourceType; id: string }) {
  const medplum = useMedplum();
  const [history, setHistory] = useState<Bundle>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    medplum
      .readHistory(resourceType, id, undefined, { cache: 'no-cache' })
      .then(setHistory)
      .catch((err) => setError(normalizeErrorString(err)));
  }, [medplum, resourceType, id]);
  if (error) return <ErrorAlert title="The history could not be loaded">{error}</ErrorAlert>;
  if (!history) return <Loading label="Loading the history" />;
  const changes = consecutiveChanges(history);
  return (
    <Stack>
      <div data-testid="history-table">
        <ResourceHistoryTable history={history} />
      </div>
      <Title order={3} size="h5">
        Changes
      </Title>
      {changes.length === 0 && <Text c="dimmed">Only one version so far.</Text>}
      <Accordion multiple defaultValue={changes.slice(0, 1).map((c) => c.revised.meta?.versionId as string)} variant="separated">
        {changes.map(({ revised, original }) => (
          <Accordion.Item key={revised.meta?.versionId} value={revised.meta?.versionId as string} data-testid="version-diff">
            <Accordion.Control>
              Version {revised.meta?.versionId} ({formatDateTime(revised.meta?.lastUpdated)}) against {original.meta?.versionId}
            </Accordion.Control>
            <Accordion.Panel>
              <ResourceDiff original={original} revised={revised} />
            </Accordion.Panel>
          </Accordion.Item>
        ))}
      </Accordion>
    </Stack>
  );
}
