import { getReferenceString, Operator, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { SearchControl } from '@medplum/react';
import { useState } from 'react';
import { useNavigate } from 'react-router';

/** The audit trail about this resource: `AuditEvent?entity=<reference>`. */
export function AuditEventsTab({ resource }: { resource: Resource }) {
  const navigate = useNavigate();
  const [search, setSearch] = useState<SearchRequest>(() => ({
    resourceType: 'AuditEvent',
    filters: [{ code: 'entity', operator: Operator.EQUALS, value: getReferenceString(resource) as string }],
    fields: ['id', 'recorded', 'type', 'action', 'outcome', 'outcomeDesc'],
    sortRules: [{ code: 'date', descending: true }],
    count: 20,
  }));
  return (
    <div data-testid="audit-events">
      <SearchControl
        search={search}
        hideFilters
        onChange={(e) => setSearch(e.definition)}
        onClick={(e) => navigate(`/AuditEvent/${e.resource.id}`)}
      />
    </div>
  );
}
