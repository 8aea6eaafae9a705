import { Stack, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { normalizeErrorString, normalizeOperationOutcome } from '@medplum/core';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { ResourceForm, useMedplum } from '@medplum/react';
import { useState } from 'react';
import { useNavigate, useParams } from 'react-router';

/** `/:resourceType/new`: Medplum's ResourceForm for a new resource; saving opens it. */
export function CreateResourcePage() {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const { resourceType } = useParams() as { resourceType: string };
  const [outcome, setOutcome] = useState<OperationOutcome>();

  async function create(resource: Resource): Promise<void> {
    setOutcome(undefined);
    try {
      const created = await medplum.createResource(resource);
      showNotification({ color: 'green', message: `Created ${created.resourceType}/${created.id}` });
      navigate(`/${created.resourceType}/${created.id}/details`);
    } catch (err) {
      setOutcome(normalizeOperationOutcome(err));
      showNotification({ color: 'red', message: normalizeErrorString(err), autoClose: false });
    }
  }

  return (
    <Stack>
      <Title order={2}>New {resourceType}</Title>
      <ResourceForm defaultValue={{ resourceType } as Resource} outcome={outcome} onSubmit={create} />
    </Stack>
  );
}
