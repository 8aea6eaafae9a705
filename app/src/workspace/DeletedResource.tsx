import { Alert, Anchor, Button, Group, Stack, Text } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';
import type { Bundle, ResourceType } from '@medplum/fhirtypes';
import { ResourceHistoryTable, useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { canWrite } from '../access.ts';
import { lastLiveVersion } from './history.ts';
import { ErrorAlert, Loading } from './ResourcePage.tsx';
import { forUpdate } from './resource-utils.ts';

interface DeletedResourceProps {
  resourceType: ResourceType;
  id: string;
  onRestored: () => void;
}

/** A read answered 410: the resource is gone, its history is not; restoring writes the last version back. */
export function DeletedResource({ resourceType, id, onRestored }: DeletedResourceProps) {
  const medplum = useMedplum();
  const [history, setHistory] = useState<Bundle>();
  const [error, setError] = useState<string>();
  const [restoring, setRestoring] = useState(false);
  useEffect(() => {
    medplum
      .readHistory(resourceType, id, undefined, { cache: 'no-cache' })
      .then(setHistory)
      .catch((err) => setError(normalizeErrorString(err)));
  }, [medplum, resourceType, id]);

  const last = history && lastLiveVersion(history);

  async function restore(): Promise<void> {
    if (!last) return;
    setRestoring(true);
    try {
      const restored = await medplum.updateResource(forUpdate(last));
      showNotification({ color: 'green', message: `Restored ${resourceType}/${id} as version ${restored.meta?.versionId}` });
      onRestored();
    } catch (err) {
      showNotification({ color: 'red', message: normalizeErrorString(err), autoClose: false });
    } finally {
      setRestoring(false);
    }
  }

  return (
    <Stack data-testid="deleted-resource">
      <Alert color="orange" title={`${resourceType}/${id} was deleted`}>
        <Text size="sm">
          Reads answer 410 Gone. Its versions are kept below; restoring saves the last one (version {last?.meta?.versionId ?? '…'}) as a new
          version.
        </Text>
        <Group mt="sm">
          {canWrite(medplum, resourceType) && (
            <Button color="orange" onClick={restore} loading={restoring} disabled={!last} data-testid="restore">
              Restore version {last?.meta?.versionId}
            </Button>
          )}
          <Anchor component={Link} to={`/${resourceType}`}>
            Back to the {resourceType} search
          </Anchor>
        </Group>
      </Alert>
      {error && <ErrorAlert title="The history could not be loaded">{error}</ErrorAlert>}
      {!history && !error && <Loading label="Loading the history" />}
      {history && <ResourceHistoryTable history={history} />}
    </Stack>
  );
}
