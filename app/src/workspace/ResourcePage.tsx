import { Alert, Anchor, Center, Group, Loader, Paper, ScrollArea, Stack, Tabs, Text, Title } from '@mantine/core';
import { getDisplayString, isGone, normalizeOperationOutcome } from '@medplum/core';
import type { OperationOutcome, Resource, ResourceType } from '@medplum/fhirtypes';
import { OperationOutcomeAlert, ResourceBadge, useMedplum } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { AuditEventsTab } from './AuditEventsTab.tsx';
import { DeletedResource } from './DeletedResource.tsx';
import { DetailsTab } from './DetailsTab.tsx';
import { EditTab } from './EditTab.tsx';
import { HistoryTab } from './HistoryTab.tsx';
import { JsonTab } from './JsonTab.tsx';
import { TimelineTab } from './TimelineTab.tsx';

const TABS = [
  ['timeline', 'Timeline'],
  ['details', 'Details'],
  ['edit', 'Edit'],
  ['history', 'History'],
  ['json', 'JSON'],
  ['audit', 'AuditEvents'],
] as const;
type TabName = (typeof TABS)[number][0];

/** `/:resourceType/:id/:tab?`: one resource, any type, as in Medplum's app. */
export function ResourcePage() {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const params = useParams() as { resourceType: ResourceType; id: string; tab?: string };
  const { resourceType, id } = params;
  const tab: TabName = TABS.some(([t]) => t === params.tab) ? (params.tab as TabName) : 'timeline';
  const [resource, setResource] = useState<Resource>();
  const [outcome, setOutcome] = useState<OperationOutcome>();

  const load = useCallback(() => {
    medplum
      .readResource(resourceType, id, { cache: 'no-cache' })
      .then((r) => {
        setResource(r);
        setOutcome(undefined);
      })
      .catch((err) => {
        setResource(undefined);
        setOutcome(normalizeOperationOutcome(err));
      });
  }, [medplum, resourceType, id]);
  useEffect(load, [load]);

  if (outcome && isGone(outcome)) {
    return <DeletedResource resourceType={resourceType} id={id} onRestored={load} />;
  }
  if (outcome) {
    return (
      <Stack>
        <OperationOutcomeAlert outcome={outcome} />
        <Anchor component={Link} to={`/${resourceType}`}>
          Back to the {resourceType} search
        </Anchor>
      </Stack>
    );
  }
  if (!resource || resource.id !== id) {
    return (
      <Center p="xl" role="status" aria-label="Loading">
        <Loader />
      </Center>
    );
  }

  const onSaved = (saved: Resource) => {
    setResource(saved);
    navigate(`/${resourceType}/${id}/details`);
  };

  return (
    <Stack gap="sm">
      <Paper withBorder p="sm">
        <Group justify="space-between">
          <Group gap="sm">
            <ResourceBadge value={resource} />
            <Title order={2} size="h4" data-testid="resource-title">
              {getDisplayString(resource)}
            </Title>
          </Group>
          <Text size="sm" c="dimmed">
            {resourceType}/{id} · version {resource.meta?.versionId} · {resource.meta?.lastUpdated}
          </Text>
        </Group>
        <ScrollArea>
          <Tabs value={tab} onChange={(t) => navigate(`/${resourceType}/${id}/${t ?? 'timeline'}`)} mt="sm">
            <Tabs.List style={{ flexWrap: 'nowrap' }}>
              {TABS.map(([value, label]) => (
                <Tabs.Tab key={value} value={value}>
                  {label}
                </Tabs.Tab>
              ))}
            </Tabs.List>
          </Tabs>
        </ScrollArea>
      </Paper>
      <Paper withBorder p="md" data-testid={`tab-${tab}`}>
        {tab === 'timeline' && <TimelineTab resource={resource} />}
        {tab === 'details' && <DetailsTab resource={resource} />}
        {tab === 'edit' && <EditTab key={resource.meta?.versionId} resource={resource} onSaved={onSaved} onDeleted={load} />}
        {tab === 'history' && <HistoryTab key={resource.meta?.versionId} resourceType={resourceType} id={id} />}
        {tab === 'json' && <JsonTab key={resource.meta?.versionId} resource={resource} onSaved={onSaved} />}
        {tab === 'audit' && <AuditEventsTab resource={resource} />}
      </Paper>
    </Stack>
  );
}

/** Shown while a part of a tab loads. */
export function Loading({ label }: { label: string }) {
  return (
    <Center p="md" role="status" aria-label={label}>
      <Loader size="sm" />
    </Center>
  );
}

export function ErrorAlert({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <Alert color="red" title={title} role="alert">
      {children}
    </Alert>
  );
}
