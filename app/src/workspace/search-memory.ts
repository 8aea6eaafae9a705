import { DEFAULT_SEARCH_COUNT, type SearchRequest } from '@medplum/core';

/** The part of `Storage` the memory needs (localStorage in the app, a Map-backed fake in tests). */
export type KeyValueStore = Pick<Storage, 'getItem' | 'setItem'>;

/**
 * The last search and columns per resource type, remembered per user: two people sharing a
 * workstation (an ED does) must not inherit each other's filters.
 */
export interface SearchMemory {
  /** The last search run for this type, if any. */
  last(resourceType: string): SearchRequest | undefined;
  /** The resource type searched most recently (where "Resources" in the header leads). */
  lastType(): string | undefined;
  remember(search: SearchRequest): void;
}

export function searchMemory(store: KeyValueStore, user: string): SearchMemory {
  const prefix = `emergisphere.search.${user}.`;
  return {
    last(resourceType) {
      const raw = store.getItem(prefix + resourceType);
      if (!raw) return undefined;
      try {
        const parsed = JSON.parse(raw) as SearchRequest;
        // A hand-edited or outdated entry is ignored rather than breaking the page.
        return parsed && typeof parsed === 'object' && parsed.resourceType === resourceType ? parsed : undefined;
      } catch {
        return undefined;
      }
    },
    lastType() {
      return store.getItem(prefix + ':type') ?? undefined;
    },
    remember(search) {
      store.setItem(prefix + ':type', search.resourceType);
      store.setItem(prefix + search.resourceType, JSON.stringify(search));
    },
  };
}

/** Columns for a type nobody has configured yet: what identifies a row at a glance. */
export function defaultFields(resourceType: string): string[] {
  const fields = ['id', '_lastUpdated'];
  switch (resourceType) {
    case 'Patient':
      fields.push('name', 'birthDate', 'gender');
      break;
    case 'Practitioner':
    case 'Organization':
    case 'Location':
    case 'HealthcareService':
    case 'AccessPolicy':
    case 'Bot':
    case 'ClientApplication':
    case 'Questionnaire':
    case 'PlanDefinition':
      fields.push('name');
      break;
    case 'CodeSystem':
    case 'ValueSet':
    case 'StructureDefinition':
      fields.push('name', 'title', 'status');
      break;
    case 'Condition':
    case 'AllergyIntolerance':
      fields.push('patient', 'code', 'clinicalStatus');
      break;
    case 'Observation':
    case 'DiagnosticReport':
      fields.push('subject', 'code', 'status');
      break;
    case 'Encounter':
      fields.push('subject', 'status', 'class');
      break;
    case 'Task':
      fields.push('code', 'status', 'focus');
      break;
    case 'Device':
      fields.push('deviceName', 'status', 'patient');
      break;
    case 'Subscription':
      fields.push('criteria', 'status');
      break;
    case 'AuditEvent':
      fields.push('type', 'outcome');
      break;
  }
  return fields;
}

/**
 * Completes the search parsed from the URL. A bare `/Patient` reopens the last Patient search
 * (filters included); a URL that names its own filters keeps them, and takes only the remembered
 * columns and sort where it names none.
 */
export function completeSearch(fromUrl: SearchRequest, remembered: SearchRequest | undefined, bareUrl: boolean): SearchRequest {
  const base = bareUrl && remembered ? remembered : fromUrl;
  return {
    ...base,
    resourceType: fromUrl.resourceType,
    fields: base.fields?.length ? base.fields : (remembered?.fields ?? defaultFields(fromUrl.resourceType)),
    sortRules: base.sortRules?.length ? base.sortRules : (remembered?.sortRules ?? [{ code: '_lastUpdated', descending: true }]),
    offset: base.offset ?? 0,
    count: base.count ?? DEFAULT_SEARCH_COUNT,
  };
}
