import { Alert, Button, Group, JsonInput, Stack } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { normalizeOperationOutcome, stringify } from '@medplum/core';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeAlert, useMedplum } from '@medplum/react';
import { useState } from 'react';
import { forUpdate } from './resource-utils.ts';

/** The resource as JSON, editable; a parse error or the server's OperationOutcome is shown in place. */
export function JsonTab({ resource, onSaved }: { resource: Resource; onSaved: (saved: Resource) => void }) {
  const medplum = useMedplum();
  const [text, setText] = useState(() => stringify(resource, true));
  const [parseError, setParseError] = useState<string>();
  const [outcome, setOutcome] = useState<OperationOutcome>();
  const [saving, setSaving] = useState(false);

  async function save(): Promise<void> {
    setOutcome(undefined);
    let edited: Resource;
    try {
      edited = JSON.parse(text) as Resource;
    } catch (err) {
      setParseError(`Invalid JSON: ${(err as Error).message}`);
      return;
    }
    if (edited?.resourceType !== resource.resourceType || edited.id !== resource.id) {
      setParseError(`The JSON must keep "resourceType": "${resource.resourceType}" and "id": "${resource.id}".`);
      return;
    }
    setParseError(undefined);
    setSaving(true);
    try {
      const saved = await medplum.updateResource(forUpdate(edited));
      showNotification({ color: 'green', message: `Saved version ${saved.meta?.versionId}` });
      onSaved(saved);
    } catch (err) {
      setOutcome(normalizeOperationOutcome(err));
    } finally {
      setSaving(false);
    }
  }

  return (
    <Stack>
      {parseError && (
        <Alert color="red" title="Not saved" role="alert" data-testid="json-error">
          {parseError}
        </Alert>
      )}
      {outcome && (
        <div data-testid="json-outcome">
          <OperationOutcomeAlert outcome={outcome} />
        </div>
      )}
      <JsonInput
        aria-label="Resource JSON"
        data-testid="resource-json"
        value={text}
        onChange={setText}
        autosize
        minRows={16}
        maxRows={40}
        // No validationError: its line appearing on blur moves the Save button under the pointer
        // mid-click; the parse error is shown above instead.
        formatOnBlur
        styles={{ input: { fontFamily: 'monospace', fontSize: 13 } }}
      />
      <Group justify="flex-end">
        <Button onClick={save} loading={saving}>
          Save JSON
        </Button>
      </Group>
    </Stack>
  );
}
