import { Alert, Anchor, Badge, Button, FileButton, Group, List, Paper, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import { normalizeOperationOutcome } from '@medplum/core';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { type DragEvent, useState } from 'react';
import { Link } from 'react-router';
import { type EntryOutcome, entryOutcomes, issueTexts, locationPath, parseBundleInput } from './batch-input.ts';

interface RunResult {
  type: Bundle['type'];
  rows?: EntryOutcome[];
  /** The whole Bundle was refused (a transaction rolls back on its first bad entry). */
  refused?: OperationOutcome;
}

/** `/batch`: paste or drop a batch/transaction Bundle, run it, see every entry's outcome. */
export function BatchPage() {
  const medplum = useMedplum();
  const [text, setText] = useState('');
  const [inputError, setInputError] = useState<string>();
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<RunResult>();
  const [dragging, setDragging] = useState(false);

  async function run(input: string): Promise<void> {
    setResult(undefined);
    const parsed = parseBundleInput(input);
    if (parsed.error !== undefined) {
      setInputError(parsed.error);
      return;
    }
    setInputError(undefined);
    setRunning(true);
    try {
      const response = await medplum.executeBatch(parsed.bundle);
      setResult({ type: parsed.bundle.type, rows: entryOutcomes(parsed.bundle, response) });
    } catch (err) {
      setResult({ type: parsed.bundle.type, refused: normalizeOperationOutcome(err) });
    } finally {
      setRunning(false);
    }
  }

  async function loadFile(file: File | null | undefined): Promise<void> {
    if (!file) return;
    const content = await file.text();
    setText(content);
    await run(content);
  }

  function onDrop(e: DragEvent<HTMLDivElement>): void {
    e.preventDefault();
    setDragging(false);
    loadFile(e.dataTransfer.files?.[0]).catch(console.error);
  }

  return (
    <Stack>
      <Title order={2}>Batch</Title>
      <Text size="sm">
        Runs a FHIR <code>batch</code> (each entry on its own) or <code>transaction</code> (all or nothing) Bundle.
      </Text>
      <Paper
        withBorder
        p="lg"
        data-testid="batch-drop"
        bg={dragging ? 'blue.0' : undefined}
        style={{ borderStyle: 'dashed' }}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <Group justify="center">
          <Text c="dimmed">Drop a Bundle JSON file here, or</Text>
          <FileButton onChange={(f) => loadFile(f).catch(console.error)} accept="application/json,application/fhir+json,.json">
            {(props) => (
              <Button variant="default" size="xs" {...props}>
                Choose a file
              </Button>
            )}
          </FileButton>
        </Group>
      </Paper>
      <Textarea
        label="Bundle JSON"
        placeholder='{"resourceType": "Bundle", "type": "transaction", "entry": [...]}'
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
        autosize
        minRows={10}
        maxRows={30}
        styles={{ input: { fontFamily: 'monospace', fontSize: 13 } }}
      />
      <Group justify="flex-end">
        <Button onClick={() => run(text)} loading={running}>
          Run bundle
        </Button>
      </Group>
      {inputError && (
        <Alert color="red" title="Not a runnable Bundle" role="alert" data-testid="batch-input-error">
          {inputError}
        </Alert>
      )}
      {result?.refused && (
        <Alert color="red" title={`The ${result.type} was refused; nothing was written`} role="alert" data-testid="batch-refused">
          <List size="sm">
            {issueTexts(result.refused).map((t) => (
              <List.Item key={t}>{t}</List.Item>
            ))}
          </List>
        </Alert>
      )}
      {result?.rows && <OutcomeTable rows={result.rows} />}
    </Stack>
  );
}

function OutcomeTable({ rows }: { rows: EntryOutcome[] }) {
  return (
    <Table striped withTableBorder data-testid="batch-results">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>#</Table.Th>
          <Table.Th>Request</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th>Location</Table.Th>
          <Table.Th>Issues</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((row) => (
          <Table.Tr key={row.index} data-testid="batch-entry" data-ok={row.ok}>
            <Table.Td>{row.index}</Table.Td>
            <Table.Td>{row.request}</Table.Td>
            <Table.Td>
              <Badge color={row.ok ? 'green' : 'red'} variant="light">
                {row.status || 'no response'}
              </Badge>
            </Table.Td>
            <Table.Td>
              {row.location && locationPath(row.location) ? (
                <Anchor component={Link} to={locationPath(row.location) as string}>
                  {row.location}
                </Anchor>
              ) : (
                row.location
              )}
            </Table.Td>
            <Table.Td>{row.issues.join('; ')}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
