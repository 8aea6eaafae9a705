import { Alert, Badge, Button, Center, Group, Loader, Select, Stack, Table, Text, Title, Tooltip, VisuallyHidden } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { canWrite } from '../access.ts';
import { NewArrivalButton } from '../actions/NewArrival.tsx';
import { ACTIVE_ED_STATUSES } from '../codes.ts';
import { ESI_COLOURS, STEP_STATUS_COLOURS } from '../theme.ts';
import {
  type BoardFilter,
  type BoardInput,
  type BoardRow,
  buildRows,
  elapsed,
  encounterOfNotification,
  filterRows,
  formatDuration,
  refId,
} from './board-data.ts';
import { type ConnectionState, useBoardSubscriptions } from './live.ts';
import { applyResource, loadBoard, loadEncounterSlice, mergeSlice } from './load-board.ts';

const FULL_RELOAD_DEBOUNCE_MS = 250;

export function TrackingBoard() {
  const medplum = useMedplum();
  const [input, setInput] = useState<BoardInput>();
  const [error, setError] = useState<string>();
  const [now, setNow] = useState(() => new Date());
  const [filter, setFilter] = useState<BoardFilter>({});
  const reloadTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  // The latest input, for notifications applied between renders.
  const inputRef = useRef<BoardInput>(undefined);
  inputRef.current = input;

  const reload = useCallback(() => {
    loadBoard(medplum)
      .then((data) => {
        setInput(data);
        setError(undefined);
        setNow(new Date());
      })
      .catch((err) => setError(normalizeErrorString(err)));
  }, [medplum]);

  const scheduleReload = useCallback(() => {
    clearTimeout(reloadTimer.current);
    reloadTimer.current = setTimeout(reload, FULL_RELOAD_DEBOUNCE_MS);
  }, [reload]);

  const refreshEncounter = useCallback(
    (encounterId: string) => {
      loadEncounterSlice(medplum, encounterId)
        .then((slice) => {
          const prev = inputRef.current;
          if (!prev) return;
          const old = prev.encounters.find((e) => e.id === encounterId);
          const patientId = refId((slice.encounters[0] ?? old)?.subject, 'Patient');
          inputRef.current = mergeSlice(prev, encounterId, patientId, slice);
          setInput(inputRef.current);
        })
        .catch(() => scheduleReload());
    },
    [medplum, scheduleReload],
  );

  const onEvent = useCallback(
    (bundle: Bundle) => {
      const resource = bundle.entry?.[1]?.resource as Resource | undefined;
      const deleted = bundle.entry?.[0]?.resource && JSON.stringify(bundle.entry[0].resource).includes('"delete"');
      const current = inputRef.current;
      const applied = resource && current && !deleted ? applyResource(current, resource) : undefined;
      if (applied) {
        inputRef.current = applied;
        setInput(applied);
        return;
      }
      const encounterId = encounterOfNotification(bundle);
      if (encounterId) refreshEncounter(encounterId);
      else scheduleReload();
    },
    [refreshEncounter, scheduleReload],
  );
  const connection = useBoardSubscriptions(onEvent, scheduleReload);

  useEffect(() => {
    reload();
    const tick = setInterval(() => setNow(new Date()), 30_000);
    return () => {
      clearInterval(tick);
      clearTimeout(reloadTimer.current);
    };
  }, [reload]);

  const rows = useMemo(() => (input ? buildRows(input, now) : []), [input, now]);
  const areas = useMemo(() => [...new Set(rows.map((r) => r.area ?? 'Unassigned'))].sort(), [rows]);
  const shown = filterRows(rows, filter);

  return (
    <Stack gap="sm">
      <Group justify="space-between" wrap="wrap">
        <Group gap="md">
          <Title order={2}>Tracking board</Title>
          <ConnectionBadge state={connection} />
          <Text size="sm" c="dimmed" aria-live="polite" data-testid="board-count">
            {input ? `${shown.length} of ${rows.length} patients` : ''}
          </Text>
        </Group>
        <Group gap="sm" align="flex-end">
          <Select
            label="Area"
            placeholder="All areas"
            clearable
            data={areas}
            value={filter.area ?? null}
            onChange={(v) => setFilter((f) => ({ ...f, area: v ?? undefined }))}
            w={160}
          />
          <Select
            label="Status"
            placeholder="All statuses"
            clearable
            data={[...ACTIVE_ED_STATUSES]}
            value={filter.status ?? null}
            onChange={(v) => setFilter((f) => ({ ...f, status: v ?? undefined }))}
            w={160}
          />
          {canWrite(medplum, 'Encounter') && <NewArrivalButton />}
        </Group>
      </Group>
      {error && (
        <Alert color="red" title="The board could not be loaded" role="alert">
          <Group justify="space-between">
            <Text size="sm">{error}</Text>
            <Button size="xs" onClick={reload}>
              Retry
            </Button>
          </Group>
        </Alert>
      )}
      {!input && !error && (
        <Center p="xl" role="status" aria-label="Loading the board">
          <Loader />
        </Center>
      )}
      {input && rows.length === 0 && (
        <Text c="dimmed" p="xl" ta="center" data-testid="board-empty">
          No patients in the department.
        </Text>
      )}
      {input && rows.length > 0 && <BoardTable rows={shown} now={now} />}
    </Stack>
  );
}

function ConnectionBadge({ state }: { state: ConnectionState }) {
  const text = state === 'live' ? 'Live' : state === 'lost' ? 'Connection lost — reconnecting…' : 'Connecting…';
  const color = state === 'live' ? 'green.9' : state === 'lost' ? 'red.9' : 'gray.7';
  return (
    <Badge color={color} variant="filled" size="lg" role="status" aria-live="polite" data-testid="connection" data-state={state}>
      {text}
    </Badge>
  );
}

export function EsiBadge({ esi, method }: { esi?: number; method?: string }) {
  if (!esi) {
    return (
      <Badge color="gray.7" variant="outline" size="lg" data-testid="esi" data-esi="">
        <VisuallyHidden>Not triaged</VisuallyHidden>
        <span aria-hidden>—</span>
      </Badge>
    );
  }
  const c = ESI_COLOURS[esi];
  return (
    <Tooltip label={`ESI ${esi} ${c.label}${method === 'clinician-override' ? ' (clinician override)' : ''}`}>
      <Badge size="lg" radius="sm" miw={72} style={{ background: c.bg, color: c.fg, overflow: 'visible' }} data-testid="esi" data-esi={esi}>
        {method === 'clinician-override' ? `ESI ${esi} ✎` : `ESI ${esi}`}
      </Badge>
    </Tooltip>
  );
}

export function StepMarks({ steps }: { steps: BoardRow['steps'] }) {
  if (steps.length === 0) return <Text size="xs">—</Text>;
  return (
    <ul className="step-marks" aria-label="Workflow steps">
      {steps.map((s) => (
        <Tooltip key={s.code} label={`${s.code}: ${s.status}${s.note ? ` — ${s.note}` : ''}`}>
          <li
            aria-label={`${s.code} ${s.status}`}
            className="step-mark"
            data-step={s.code}
            data-status={s.status}
            style={{ background: STEP_STATUS_COLOURS[s.status] ?? '#dee2e6' }}
          />
        </Tooltip>
      ))}
    </ul>
  );
}

function BoardTable({ rows, now }: { rows: BoardRow[]; now: Date }) {
  const navigate = useNavigate();
  return (
    <Table striped highlightOnHover className="board-table" verticalSpacing={6} aria-label="Patients in the emergency department">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Acuity</Table.Th>
          <Table.Th>Bed</Table.Th>
          <Table.Th>Patient</Table.Th>
          <Table.Th>Chief complaint</Table.Th>
          <Table.Th>NEWS2</Table.Th>
          <Table.Th>In dept.</Table.Th>
          <Table.Th>Door→triage</Table.Th>
          <Table.Th>Door→provider</Table.Th>
          <Table.Th>Staff</Table.Th>
          <Table.Th>Workflow</Table.Th>
          <Table.Th>Alerts</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((r) => (
          <Table.Tr
            key={r.encounterId}
            className="board-row"
            data-testid="board-row"
            data-encounter={r.encounterId}
            style={{ cursor: 'pointer' }}
            onClick={() => navigate(`/Encounter/${r.encounterId}`)}
          >
            <Table.Td>
              <EsiBadge esi={r.esi} method={r.esiMethod} />
            </Table.Td>
            <Table.Td>{r.bed ?? <Text c="dimmed">—</Text>}</Table.Td>
            <Table.Td>
              <Link to={`/Encounter/${r.encounterId}`} onClick={(e) => e.stopPropagation()} data-testid="patient-link">
                <Text fw={600} span>
                  {r.name}
                </Text>
              </Link>{' '}
              <Text span size="sm">
                {[r.age, r.sex].filter(Boolean).join(' ')}
              </Text>
              {r.temporaryIdentity && (
                <Badge ml={4} size="xs" color="gray.7">
                  temp ID
                </Badge>
              )}
            </Table.Td>
            <Table.Td>{r.complaint ?? '—'}</Table.Td>
            <Table.Td data-testid="news2">
              {r.news2 === undefined ? (
                '—'
              ) : (
                <Text span fw={r.news2 >= 5 ? 700 : 400} c={r.news2 >= 7 ? 'red.9' : undefined}>
                  {r.news2}
                </Text>
              )}
            </Table.Td>
            <Table.Td>{formatDuration(elapsed(r.arrival, now) ?? Number.NaN)}</Table.Td>
            <Table.Td>{timer(r.arrival, r.triagedAt, now)}</Table.Td>
            <Table.Td>{timer(r.arrival, r.providerAt, now)}</Table.Td>
            <Table.Td>{r.staff.join(', ') || '—'}</Table.Td>
            <Table.Td>
              <StepMarks steps={r.steps} />
            </Table.Td>
            <Table.Td data-testid="alerts">
              <Group gap={4}>
                {r.alerts.map((a) => (
                  <Badge key={a.id} color={a.severity === 'high' ? 'red.9' : 'orange.9'} variant="filled" size="sm" data-testid="alert">
                    {a.restricted ? '⚖ ' : '⚠ '}
                    {a.text}
                  </Badge>
                ))}
              </Group>
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/** A finished interval, or the running clock (in italics) while the event is still awaited. */
function timer(from: string | undefined, to: string | undefined, now: Date) {
  if (to) return formatDuration(elapsed(from, to) ?? Number.NaN);
  const running = elapsed(from, now);
  return running === undefined ? (
    '—'
  ) : (
    <Text span fs="italic" c="dimmed" title="waiting">
      {formatDuration(running)}
    </Text>
  );
}
