import { Alert, Button, Group, Stack, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { formatSearchQuery, normalizeErrorString, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Bundle, ResourceType } from '@medplum/fhirtypes';
import { SearchControl, useMedplum } from '@medplum/react';
import { useEffect, useMemo, useState } from 'react';
import { useLocation, useNavigate, useParams } from 'react-router';
import { canWrite } from '../access.ts';
import { issueTexts } from './batch-input.ts';
import { CSV_ROW_CAP, downloadText, exportSearchCsv } from './csv-export.ts';
import { ResourceTypePicker } from './ResourceTypePicker.tsx';
import { completeSearch, searchMemory } from './search-memory.ts';
import { userKey } from './user-key.ts';

/** `/:resourceType`: Medplum's search table; the search is the URL's query string. */
export function SearchPage() {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const location = useLocation();
  const { resourceType } = useParams() as { resourceType: string };
  const memory = useMemo(() => searchMemory(window.localStorage, userKey(medplum)), [medplum]);
  const [search, setSearch] = useState<SearchRequest>();
  const [reloads, setReloads] = useState(0);
  const [badUrl, setBadUrl] = useState<string>();

  useEffect(() => {
    let parsed: SearchRequest;
    try {
      parsed = parseSearchRequest(`/${resourceType}${location.search}`);
      setBadUrl(undefined);
    } catch (err) {
      setBadUrl(normalizeErrorString(err));
      return;
    }
    const complete = completeSearch(parsed, memory.last(resourceType), location.search === '');
    const query = formatSearchQuery(complete);
    if (query !== location.search) {
      // The URL always spells out the whole search, so it can be bookmarked and shared.
      navigate(`/${resourceType}${query}`, { replace: true });
      return;
    }
    memory.remember(complete);
    setSearch(complete);
  }, [resourceType, location.search, memory, navigate]);

  if (badUrl) {
    return (
      <Alert color="red" title="This search could not be read" role="alert">
        {badUrl}
      </Alert>
    );
  }
  if (!search || search.resourceType !== resourceType) return null;
  const writable = canWrite(medplum, resourceType);

  async function exportCsv(current: SearchRequest): Promise<void> {
    try {
      const result = await exportSearchCsv(medplum, current);
      downloadText(result.csv, `${current.resourceType}-${new Date().toISOString().slice(0, 10)}.csv`);
      showNotification({
        color: result.truncated ? 'yellow' : 'green',
        message: result.truncated
          ? `Exported the first ${CSV_ROW_CAP.toLocaleString()} rows; use Bulk Data $export for more`
          : `Exported ${result.rows} rows`,
      });
    } catch (err) {
      showNotification({ color: 'red', message: `Export failed: ${normalizeErrorString(err)}`, autoClose: false });
    }
  }

  async function deleteChecked(ids: string[]): Promise<void> {
    const result: Bundle = await medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: ids.map((id) => ({ request: { method: 'DELETE', url: `${resourceType}/${id}` } })),
    });
    medplum.invalidateSearches(resourceType as ResourceType);
    const failed = (result.entry ?? []).filter((e) => !/^2\d\d/.test(e.response?.status ?? ''));
    if (failed.length) {
      const reasons = failed.flatMap((e) => issueTexts(e.response?.outcome as never));
      showNotification({
        color: 'red',
        autoClose: false,
        message: `${failed.length} of ${ids.length} could not be deleted: ${[...new Set(reasons)].join('; ')}`,
      });
    } else {
      showNotification({ color: 'green', message: `Deleted ${ids.length} ${resourceType}` });
    }
    setReloads((n) => n + 1);
  }

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Group>
          <Title order={2}>{resourceType}</Title>
          <ResourceTypePicker value={resourceType} />
        </Group>
        <Button variant="default" size="xs" onClick={() => exportCsv(search)} data-testid="export-csv">
          Export CSV
        </Button>
      </Group>
      <SearchControl
        key={reloads}
        search={search}
        checkboxesEnabled={writable}
        onClick={(e) => navigate(`/${e.resource.resourceType}/${e.resource.id}`)}
        onAuxClick={(e) => window.open(`/${e.resource.resourceType}/${e.resource.id}`, '_blank')}
        onChange={(e) => navigate(`/${resourceType}${formatSearchQuery(e.definition)}`)}
        onNew={writable ? () => navigate(`/${resourceType}/new`) : undefined}
        onExportCsv={() => exportCsv(search)}
        onDelete={writable ? deleteChecked : undefined}
      />
    </Stack>
  );
}
