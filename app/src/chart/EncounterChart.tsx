import { Alert, Anchor, Badge, Center, Group, List, Loader, Paper, SimpleGrid, Stack, Table, Tabs, Text, Title } from '@mantine/core';
import { formatDateTime, normalizeErrorString } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { useMedplum, useSubscription } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { canRead, canWrite, isClinician } from '../access.ts';
import {
  AcknowledgeButton,
  ApproveReportButton,
  AssignBedButton,
  BookFollowUpButton,
  OverrideAcuityButton,
  RecordVitalsButton,
  StepOverrideButton,
} from '../actions/EncounterActions.tsx';
import { ageOf, esiOfEncounter, humanName, sexOf } from '../board/board-data.ts';
import { EsiBadge } from '../board/TrackingBoard.tsx';
import { COMMUNICATION_CATEGORY_SYSTEM, STEP_SYSTEM } from '../codes.ts';
import { STEP_STATUS_COLOURS } from '../theme.ts';
import { FamilyPanel } from './FamilyPanel.tsx';
import { type ChartData, loadChart, timeline } from './load-chart.ts';
import { VitalsCharts } from './VitalsCharts.tsx';

const LEGAL_TASK_SYSTEM = 'https://emergisphere.dev/fhir/CodeSystem/legal-task';

export function EncounterChart() {
  const { id } = useParams() as { id: string };
  const medplum = useMedplum();
  const [data, setData] = useState<ChartData>();
  const [error, setError] = useState<string>();
  const reload = useCallback(() => {
    loadChart(medplum, id)
      .then((d) => {
        setData(d);
        setError(undefined);
      })
      .catch((err) => setError(normalizeErrorString(err)));
  }, [medplum, id]);
  useEffect(reload, [reload]);
  // Anything written about this encounter (results, steps, messages) refreshes the chart.
  useSubscription(`Task?encounter=Encounter/${id}`, reload);
  useSubscription(`Observation?encounter=Encounter/${id}`, reload);
  useSubscription(`Encounter?_id=${id}`, reload);

  if (error) {
    return (
      <Alert color="red" title="This chart could not be loaded" role="alert">
        {error}
      </Alert>
    );
  }
  if (!data) {
    return (
      <Center p="xl" role="status" aria-label="Loading the chart">
        <Loader />
      </Center>
    );
  }
  const { encounter, patient } = data;
  const clinician = isClinician(medplum) || medplum.isProjectAdmin();
  const esiObs = data.assessments.filter((o) => o.code?.coding?.[0]?.code === 'esi');
  const latestEsi = esiObs.sort((a, b) => (a.effectiveDateTime ?? '').localeCompare(b.effectiveDateTime ?? '')).at(-1);
  const stepTasks = data.tasks.filter((t) => t.code?.coding?.some((c) => c.system === STEP_SYSTEM && c.code !== 'start-workflow'));
  const legalTasks = data.tasks.filter((t) => t.code?.coding?.some((c) => c.system === LEGAL_TASK_SYSTEM && c.code !== 'legal-case'));
  const pages = data.communications.filter(
    (c) =>
      c.category?.some((cat) => cat.coding?.some((x) => x.system === COMMUNICATION_CATEGORY_SYSTEM && x.code === 'page')) &&
      !c.inResponseTo,
  );
  const acknowledged = new Set(data.communications.flatMap((c) => c.inResponseTo?.map((r) => r.reference) ?? []));
  const activeFlags = data.flags.filter((f) => f.status === 'active');

  return (
    <Stack gap="md">
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2} data-testid="chart-patient">
            {humanName(patient) ?? 'Unknown patient'}{' '}
            <Text span size="lg">
              {[ageOf(patient?.birthDate, new Date()), sexOf(patient?.gender)].filter(Boolean).join(' ')}
            </Text>
          </Title>
          <Text>
            {encounter.reasonCode?.[0]?.text ?? 'No complaint recorded'} · {encounter.status} · arrived{' '}
            {encounter.period?.start ? formatDateTime(encounter.period.start) : '—'} ·{' '}
            <Anchor component={Link} to={`/Encounter/${encounter.id}/details`} data-testid="resource-view-link">
              Resource view
            </Anchor>
          </Text>
        </div>
        <Group gap="xs">
          <EsiBadge esi={esiOfEncounter(encounter)} method={latestEsi?.method?.coding?.[0]?.code} />
          {canWrite(medplum, 'Observation') && <RecordVitalsButton encounter={encounter} onDone={reload} />}
          {clinician && <OverrideAcuityButton encounter={encounter} onDone={reload} />}
          {canWrite(medplum, 'Encounter') && <AssignBedButton encounter={encounter} onDone={reload} />}
          {canWrite(medplum, 'Appointment') && <BookFollowUpButton encounter={encounter} onDone={reload} />}
        </Group>
      </Group>
      {activeFlags.length > 0 && (
        <Alert color="red" title="Alerts" role="alert" data-testid="chart-alerts">
          <List size="sm">
            {activeFlags.map((f) => (
              <List.Item key={f.id}>{f.code?.text ?? f.code?.coding?.[0]?.display}</List.Item>
            ))}
          </List>
        </Alert>
      )}
      {clinician && patient && <FamilyPanel patient={patient} encounter={encounter} />}
      <Tabs defaultValue="summary" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="summary">Summary</Tabs.Tab>
          {canRead(medplum, 'Observation') && <Tabs.Tab value="vitals">Vital signs</Tabs.Tab>}
          {canRead(medplum, 'Observation') && <Tabs.Tab value="triage">Triage</Tabs.Tab>}
          <Tabs.Tab value="workflow">Workflow</Tabs.Tab>
          <Tabs.Tab value="timeline">Timeline</Tabs.Tab>
          {canRead(medplum, 'DocumentReference') && <Tabs.Tab value="documents">Documents</Tabs.Tab>}
        </Tabs.List>
        <Tabs.Panel value="summary" pt="md">
          <SimpleGrid cols={{ base: 1, md: 3 }}>
            <Paper withBorder p="sm">
              <Title order={3} size="h5">
                Problems
              </Title>
              <ResourceList items={data.conditions.map((c) => ({ id: c.id, text: c.code?.text ?? c.code?.coding?.[0]?.display }))} />
            </Paper>
            <Paper withBorder p="sm">
              <Title order={3} size="h5">
                Allergies
              </Title>
              {data.allergies.length === 0 ? (
                <Text c="dimmed" size="sm">
                  None recorded
                </Text>
              ) : (
                <List size="sm">
                  {data.allergies.map((a) => (
                    <List.Item key={a.id}>
                      {a.code?.text ?? a.code?.coding?.[0]?.display}{' '}
                      {a.criticality && (
                        <Badge size="xs" color={a.criticality === 'high' ? 'red.9' : 'gray.7'}>
                          {a.criticality} criticality
                        </Badge>
                      )}
                    </List.Item>
                  ))}
                </List>
              )}
            </Paper>
            <Paper withBorder p="sm">
              <Title order={3} size="h5">
                Medications
              </Title>
              <ResourceList
                items={data.medications.map((m) => ({
                  id: m.id,
                  text:
                    m.medicationCodeableConcept?.text ??
                    m.medicationCodeableConcept?.coding?.[0]?.display ??
                    m.medicationReference?.display,
                }))}
              />
            </Paper>
          </SimpleGrid>
          {data.issues.length > 0 && (
            <Paper withBorder p="sm" mt="md">
              <Title order={3} size="h5">
                Detected issues
              </Title>
              <List size="sm">
                {data.issues.map((d) => (
                  <List.Item key={d.id}>
                    <Badge size="xs" color={d.severity === 'high' ? 'red.9' : 'orange.9'}>
                      {d.severity ?? 'issue'}
                    </Badge>{' '}
                    {d.code?.text ?? d.code?.coding?.[0]?.display}: {d.detail}
                  </List.Item>
                ))}
              </List>
            </Paper>
          )}
          {pages.length > 0 && (
            <Paper withBorder p="sm" mt="md">
              <Title order={3} size="h5">
                Pages
              </Title>
              <Stack gap={4}>
                {pages.map((c) => (
                  <Group key={c.id} gap="sm">
                    <Text size="sm">{c.payload?.[0]?.contentString}</Text>
                    {acknowledged.has(`Communication/${c.id}`) ? (
                      <Badge color="green.9">acknowledged</Badge>
                    ) : (
                      <AcknowledgeButton page={c} onDone={reload} />
                    )}
                  </Group>
                ))}
              </Stack>
            </Paper>
          )}
          {legalTasks.length > 0 && (
            <Paper withBorder p="sm" mt="md">
              <Title order={3} size="h5">
                Legal
              </Title>
              {legalTasks.map((t) => (
                <Group key={t.id} gap="sm">
                  <Text size="sm">
                    {t.code?.text ?? t.description} — {t.status}
                  </Text>
                  {(t.status === 'requested' || t.status === 'ready' || t.status === 'in-progress') && (
                    <ApproveReportButton task={t} onDone={reload} />
                  )}
                </Group>
              ))}
            </Paper>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="vitals" pt="md">
          <VitalsCharts observations={data.vitals} />
        </Tabs.Panel>
        <Tabs.Panel value="triage" pt="md">
          {esiObs.length === 0 ? (
            <Text c="dimmed">Not triaged yet.</Text>
          ) : (
            <Stack data-testid="triage-rationale">
              {esiObs
                .slice()
                .reverse()
                .map((o) => (
                  <Paper key={o.id} withBorder p="sm">
                    <Group gap="sm">
                      <EsiBadge esi={Number(o.valueCodeableConcept?.coding?.[0]?.code)} method={o.method?.coding?.[0]?.code} />
                      <Text size="sm">
                        {o.method?.coding?.[0]?.code} · {o.effectiveDateTime ? formatDateTime(o.effectiveDateTime) : ''}
                      </Text>
                    </Group>
                    <Text mt="xs">{o.note?.[0]?.text}</Text>
                    <List size="sm">
                      {o.component?.map((c) => (
                        <List.Item key={`${c.code?.text}-${c.valueString}`}>
                          <b>{c.code?.text}</b>: {c.valueString}
                        </List.Item>
                      ))}
                    </List>
                  </Paper>
                ))}
              {data.risks.map((r) => (
                <Text key={r.id} size="sm">
                  Risk: {r.prediction?.[0]?.qualitativeRisk?.coding?.[0]?.code} — {r.prediction?.[0]?.rationale}
                </Text>
              ))}
            </Stack>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="workflow" pt="md">
          <WorkflowTable tasks={stepTasks} encounterId={id} canOverride={clinician} onDone={reload} />
        </Tabs.Panel>
        <Tabs.Panel value="timeline" pt="md">
          <Table>
            <Table.Tbody>
              {timeline(data).map((item) => (
                <Table.Tr key={`${item.ref}-${item.time}-${item.text}`}>
                  <Table.Td w={180}>{formatDateTime(item.time)}</Table.Td>
                  <Table.Td w={100}>
                    <Badge variant="light" color="gray.8">
                      {item.kind}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{item.text}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Tabs.Panel>
        <Tabs.Panel value="documents" pt="md">
          {data.documents.length === 0 ? (
            <Text c="dimmed">No documents.</Text>
          ) : (
            <List>
              {data.documents.map((d) => (
                <List.Item key={d.id}>
                  {d.resourceType === 'Composition' ? d.title : (d.description ?? d.type?.text ?? 'Document')}
                  {d.resourceType === 'DocumentReference' && d.content?.[0]?.attachment?.url && (
                    <>
                      {' '}
                      <Anchor href={d.content[0].attachment.url} target="_blank">
                        open
                      </Anchor>
                    </>
                  )}
                </List.Item>
              ))}
            </List>
          )}
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function ResourceList({ items }: { items: { id?: string; text?: string }[] }) {
  if (items.length === 0) {
    return (
      <Text c="dimmed" size="sm">
        None recorded
      </Text>
    );
  }
  return (
    <List size="sm">
      {items.map((i) => (
        <List.Item key={i.id}>{i.text ?? '—'}</List.Item>
      ))}
    </List>
  );
}

function WorkflowTable(props: { tasks: Task[]; encounterId: string; canOverride: boolean; onDone: () => void }) {
  if (props.tasks.length === 0) return <Text c="dimmed">No workflow has started for this encounter.</Text>;
  return (
    <Table data-testid="workflow-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Step</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th>Started</Table.Th>
          <Table.Th>Ended</Table.Th>
          <Table.Th>Notes / errors</Table.Th>
          {props.canOverride && <Table.Th>Override</Table.Th>}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {props.tasks.map((t) => {
          const step = t.code?.coding?.find((c) => c.system === STEP_SYSTEM)?.code ?? '?';
          const rationale = t.output?.find((o) => o.valueString)?.valueString;
          return (
            <Table.Tr key={t.id} data-step={step} data-status={t.status}>
              <Table.Td>{step}</Table.Td>
              <Table.Td>
                <Badge style={{ background: STEP_STATUS_COLOURS[t.status] ?? '#dee2e6', color: t.status === 'ready' ? '#000' : '#fff' }}>
                  {t.status}
                </Badge>
              </Table.Td>
              <Table.Td>{t.executionPeriod?.start ? formatDateTime(t.executionPeriod.start) : '—'}</Table.Td>
              <Table.Td>{t.executionPeriod?.end ? formatDateTime(t.executionPeriod.end) : '—'}</Table.Td>
              <Table.Td>
                <Text size="sm" c={t.status === 'failed' ? 'red.9' : undefined}>
                  {[t.statusReason?.text, t.businessStatus?.text, rationale].filter(Boolean).join(' · ') || '—'}
                </Text>
              </Table.Td>
              {props.canOverride && (
                <Table.Td>
                  <Group gap={4}>
                    {!['completed', 'cancelled', 'failed'].includes(t.status) && (
                      <StepOverrideButton encounterId={props.encounterId} step={step} action="skip" onDone={props.onDone} />
                    )}
                    {['completed', 'failed', 'cancelled'].includes(t.status) && (
                      <StepOverrideButton encounterId={props.encounterId} step={step} action="rerun" onDone={props.onDone} />
                    )}
                  </Group>
                </Table.Td>
              )}
            </Table.Tr>
          );
        })}
      </Table.Tbody>
    </Table>
  );
}
