import {
  Alert,
  Anchor,
  Badge,
  Button,
  Code,
  Group,
  Loader,
  Paper,
  SegmentedControl,
  Stack,
  Tabs,
  Text,
  Textarea,
  Title,
} from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { AuditEvent, Bot } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { Link, useParams } from 'react-router';
import { AdminNav } from '../admin/AdminNav.tsx';
import { LoadState, useLoad } from '../admin/use-load.tsx';
import { BotExecutions, BotSubscriptions, executionLog } from './BotActivity.tsx';
import { type BotSource, deployBot, executeBody, INPUT_KINDS, type InputKind, loadBotSource, saveBotSource } from './bot-code.ts';
import { CodeEditor } from './CodeEditor.tsx';

const SAMPLE_INPUT: Record<InputKind, string> = {
  fhir: JSON.stringify({ resourceType: 'Patient', name: [{ given: ['Ada'], family: 'Test' }] }, null, 2),
  json: JSON.stringify({ hello: 'world' }, null, 2),
  hl7: [
    'MSH|^~\\&|LEGACY|HOSP|EMERGISPHERE|ED|202601011200||ADT^A04|MSG0001|P|2.5',
    'PID|1||T1000^^^HOSP^MR||Tour^Terry||19800101|F',
    'PV1|1|E|ED^^^HOSP',
  ].join('\n'),
  text: 'Ada',
};

/** The bot editor (Medplum app's `Bot/{id}/editor`): source, save, deploy, execute with test input, executions, subscriptions. */
export function BotEditorPage() {
  const { id } = useParams() as { id: string };
  const medplum = useMedplum();
  const load = useCallback(async () => {
    const bot = await medplum.readResource('Bot', id, { cache: 'no-cache' });
    return { bot, source: await loadBotSource(medplum, bot) };
  }, [medplum, id]);
  const [data, error] = useLoad(load);
  const [executed, setExecuted] = useState(0);
  return (
    <Stack>
      <AdminNav />
      <LoadState error={error} loading={!data} empty={false}>
        {data && (
          <>
            <Group justify="space-between">
              <Title order={2}>Bot: {data.bot.name}</Title>
              <Anchor component={Link} to="/admin" size="sm">
                All bots
              </Anchor>
            </Group>
            <Editor key={data.bot.id} bot={data.bot} source={data.source} onExecuted={() => setExecuted((n) => n + 1)} />
            <Tabs defaultValue="executions" keepMounted={false}>
              <Tabs.List>
                <Tabs.Tab value="executions">Recent executions</Tabs.Tab>
                <Tabs.Tab value="subscriptions">Subscriptions</Tabs.Tab>
              </Tabs.List>
              <Tabs.Panel value="executions" pt="md">
                <BotExecutions botId={data.bot.id as string} refresh={executed} />
              </Tabs.Panel>
              <Tabs.Panel value="subscriptions" pt="md">
                <BotSubscriptions botId={data.bot.id as string} />
              </Tabs.Panel>
            </Tabs>
          </>
        )}
      </LoadState>
    </Stack>
  );
}

interface RunResult {
  ok: boolean;
  output: string;
  log?: AuditEvent;
}

function Editor({ bot: initial, source, onExecuted }: { bot: Bot; source: BotSource; onExecuted: () => void }) {
  const medplum = useMedplum();
  const [bot, setBot] = useState(initial);
  const [code, setCode] = useState(source.code);
  const [saved, setSaved] = useState(source.origin === 'source' ? source.code : undefined);
  const [busy, setBusy] = useState<'save' | 'deploy' | 'execute'>();
  const [kind, setKind] = useState<InputKind>('fhir');
  // One input per kind: switching to HL7 and back keeps what was typed for each.
  const [inputs, setInputs] = useState(SAMPLE_INPUT);
  const input = inputs[kind];
  const setInput = (text: string) => setInputs((all) => ({ ...all, [kind]: text }));
  const [inputError, setInputError] = useState<string>();
  const [result, setResult] = useState<RunResult>();

  const run = async (what: 'save' | 'deploy', action: () => Promise<void>, done: string) => {
    setBusy(what);
    try {
      await action();
      showNotification({ color: 'green', message: done });
    } catch (err) {
      showNotification({ color: 'red', title: `${what === 'save' ? 'Save' : 'Deploy'} failed`, message: normalizeErrorString(err) });
    } finally {
      setBusy(undefined);
    }
  };

  const save = () =>
    run(
      'save',
      async () => {
        setBot(await saveBotSource(medplum, bot.id as string, code));
        setSaved(code);
      },
      'Source saved',
    );
  const deploy = () =>
    run(
      'deploy',
      async () => {
        setBot(await deployBot(medplum, bot.id as string, code));
      },
      'Deployed',
    );

  const execute = async () => {
    let request: ReturnType<typeof executeBody>;
    try {
      request = executeBody(kind, input);
      setInputError(undefined);
    } catch (err) {
      setInputError(normalizeErrorString(err));
      return;
    }
    setBusy('execute');
    const traceId = crypto.randomUUID();
    let outcome: RunResult;
    try {
      const value = await medplum.executeBot(bot.id as string, request.body, request.contentType, {
        headers: { 'x-trace-id': traceId },
        cache: 'no-cache',
      });
      // HL7 separates segments with CR, which a browser does not break lines on.
      outcome = { ok: true, output: typeof value === 'string' ? value.replace(/\r\n?/g, '\n') : JSON.stringify(value, null, 2) };
    } catch (err) {
      outcome = { ok: false, output: normalizeErrorString(err) };
    }
    // The log is in the execution's AuditEvent; the trace id finds this run's.
    outcome.log = await executionLog(medplum, bot.id as string, traceId).catch(() => undefined);
    setResult(outcome);
    setBusy(undefined);
    onExecuted();
  };

  return (
    <Stack>
      <Group gap="xs">
        <Badge variant="light" color={saved === code ? 'green.9' : 'orange.9'} data-testid="source-state">
          {saved === code
            ? 'saved'
            : source.origin === 'deployed' && saved === undefined
              ? 'deployed bundle (not saved as source)'
              : 'unsaved changes'}
        </Badge>
        <Text size="sm" c="dimmed" data-testid="deployed-code">
          Deployed code: {bot.executableCode?.url ?? 'none'}
        </Text>
      </Group>
      <CodeEditor
        label="Source code (TypeScript or JavaScript; export async function handler(medplum, event))"
        value={code}
        onChange={setCode}
        testId="bot-source"
      />
      <Group>
        <Button onClick={save} loading={busy === 'save'} disabled={!!busy} data-testid="save-bot">
          Save
        </Button>
        <Button onClick={deploy} loading={busy === 'deploy'} disabled={!!busy} variant="light" data-testid="deploy-bot">
          Deploy
        </Button>
      </Group>
      <Paper withBorder p="md">
        <Stack gap="sm">
          <Title order={3} size="h4">
            Execute
          </Title>
          <SegmentedControl
            value={kind}
            onChange={(v) => setKind(v as InputKind)}
            data={INPUT_KINDS.map((k) => ({ value: k.value, label: k.label }))}
            aria-label="Input type"
            data-testid="input-kind"
          />
          <Textarea
            label={`Input (sent as ${INPUT_KINDS.find((k) => k.value === kind)?.contentType})`}
            value={input}
            onChange={(e) => setInput(e.currentTarget.value)}
            autosize
            minRows={4}
            maxRows={16}
            spellCheck={false}
            error={inputError}
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)', fontSize: 13 } }}
            data-testid="bot-input"
          />
          <Group>
            <Button onClick={execute} loading={busy === 'execute'} disabled={!!busy} data-testid="execute-bot">
              Execute
            </Button>
          </Group>
          {busy === 'execute' && <Loader size="sm" aria-label="Running" />}
          {result && (
            <Stack gap="xs" data-testid="bot-run" data-ok={String(result.ok)}>
              <Text size="sm" fw={600}>
                {result.ok ? 'Returned' : 'Failed'}
              </Text>
              <Code block data-testid="bot-output" style={{ maxHeight: 300, overflow: 'auto' }}>
                {result.output}
              </Code>
              <Text size="sm" fw={600}>
                Log
              </Text>
              {result.log ? (
                <Code block data-testid="bot-log" style={{ maxHeight: 300, overflow: 'auto' }}>
                  {result.log.outcomeDesc ?? '(no output)'}
                </Code>
              ) : (
                <Alert color="gray">No execution record (the bot's AuditEvent trigger may be off).</Alert>
              )}
            </Stack>
          )}
        </Stack>
      </Paper>
      <Text size="xs" c="dimmed">
        Last saved version {bot.meta?.versionId}
        {bot.meta?.lastUpdated ? `, ${formatDateTime(bot.meta.lastUpdated)}` : ''}
      </Text>
    </Stack>
  );
}
