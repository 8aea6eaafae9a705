import { Button, Group, Modal, Text } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { normalizeErrorString, normalizeOperationOutcome } from '@medplum/core';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { ResourceForm, useMedplum } from '@medplum/react';
import { useState } from 'react';
import { forUpdate } from './resource-utils.ts';

interface EditTabProps {
  resource: Resource;
  onSaved: (saved: Resource) => void;
  onDeleted: () => void;
}

/** Medplum's ResourceForm, laid out by the resource's profile when it claims one ($expand-profile). */
export function EditTab({ resource, onSaved, onDeleted }: EditTabProps) {
  const medplum = useMedplum();
  const [outcome, setOutcome] = useState<OperationOutcome>();
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);

  async function save(edited: Resource): Promise<void> {
    setOutcome(undefined);
    try {
      const saved = await medplum.updateResource(forUpdate(edited));
      showNotification({ color: 'green', message: `Saved version ${saved.meta?.versionId}` });
      onSaved(saved);
    } catch (err) {
      setOutcome(normalizeOperationOutcome(err));
      showNotification({ color: 'red', message: normalizeErrorString(err), autoClose: false });
    }
  }

  async function remove(): Promise<void> {
    setDeleting(true);
    try {
      await medplum.deleteResource(resource.resourceType, resource.id as string);
      showNotification({ color: 'green', message: `Deleted ${resource.resourceType}/${resource.id}` });
      setConfirming(false);
      onDeleted();
    } catch (err) {
      showNotification({ color: 'red', message: normalizeErrorString(err), autoClose: false });
    } finally {
      setDeleting(false);
    }
  }

  return (
    <>
      <ResourceForm
        defaultValue={resource}
        profileUrl={resource.meta?.profile?.[0]}
        outcome={outcome}
        onSubmit={save}
        onDelete={() => setConfirming(true)}
      />
      <Modal opened={confirming} onClose={() => setConfirming(false)} title="Delete this resource?">
        <Text size="sm">
          {resource.resourceType}/{resource.id} will be deleted. Its history is kept and it can be restored from there.
        </Text>
        <Group justify="flex-end" mt="md">
          <Button variant="default" onClick={() => setConfirming(false)}>
            Cancel
          </Button>
          <Button color="red" loading={deleting} onClick={remove} data-testid="confirm-delete">
            Delete
          </Button>
        </Group>
      </Modal>
    </>
  );
}
