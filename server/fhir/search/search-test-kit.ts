import type { QueryTypes, WithId } from '@medplum/core';
import type { Bundle, OperationOutcome, Resource, ResourceType } from '@medplum/fhirtypes';
import { authorizationFor, type TestServer } from '../../../test/server.ts';

/** Tag system that scopes a test group's resources, so groups in one database do not see each other. */
export const GROUP_TAG_SYSTEM = 'urn:emergisphere:test-group';

function toParams(query: QueryTypes): URLSearchParams {
  if (typeof query === 'string') {
    return new URLSearchParams(query);
  }
  if (query instanceof URLSearchParams) {
    return new URLSearchParams(query);
  }
  if (Array.isArray(query)) {
    return new URLSearchParams(query as string[][]);
  }
  return new URLSearchParams(Object.entries(query ?? {}).map(([k, v]) => [k, String(v)]));
}

/**
 * Search-test helper: creates resources under a label through the real MedplumClient and turns
 * search results back into labels, so a test can assert the exact matching set readably.
 */
export class SearchKit {
  private readonly labelByRef = new Map<string, string>();
  private readonly refByLabel = new Map<string, string>();

  readonly t: TestServer;
  readonly group: string;

  constructor(t: TestServer, group: string) {
    this.t = t;
    this.group = group;
  }

  get tag(): string {
    return `${GROUP_TAG_SYSTEM}|${this.group}`;
  }

  async create<T extends Resource>(label: string, resource: T): Promise<WithId<T>> {
    const tag = [...(resource.meta?.tag ?? []), { system: GROUP_TAG_SYSTEM, code: this.group }];
    const created = await this.t.medplum.createResource<T>({ ...resource, meta: { ...resource.meta, tag } });
    const ref = `${created.resourceType}/${created.id}`;
    this.labelByRef.set(ref, label);
    this.refByLabel.set(label, ref);
    return created;
  }

  /** "Patient/123" of a labelled resource. */
  ref(label: string): string {
    const ref = this.refByLabel.get(label);
    if (!ref) {
      throw new Error(`No resource labelled ${label}`);
    }
    return ref;
  }

  id(label: string): string {
    return this.ref(label).split('/')[1];
  }

  labelOf(resource: Resource): string {
    const ref = `${resource.resourceType}/${resource.id}`;
    return this.labelByRef.get(ref) ?? `?${ref}`;
  }

  /** Searches within this group (adds `_tag`) with a page large enough for every test. */
  search<T extends ResourceType>(resourceType: T, query: QueryTypes, headers?: Record<string, string>): Promise<Bundle> {
    const params = toParams(query);
    params.append('_tag', this.tag);
    if (!params.has('_count') && params.get('_summary') !== 'count') {
      params.set('_count', '1000');
    }
    return this.t.medplum.search(resourceType, params, headers ? { headers } : undefined) as Promise<Bundle>;
  }

  /** Labels of the `match` entries of a bundle, in bundle order. */
  matchLabels(bundle: Bundle): string[] {
    return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => this.labelOf(e.resource as Resource));
  }

  /** Labels of the `include` entries of a bundle, sorted. */
  includeLabels(bundle: Bundle): string[] {
    return (bundle.entry ?? [])
      .filter((e) => e.search?.mode === 'include')
      .map((e) => this.labelOf(e.resource as Resource))
      .sort();
  }

  /** The sorted labels a search matches. */
  async labels<T extends ResourceType>(resourceType: T, query: QueryTypes): Promise<string[]> {
    return this.matchLabels(await this.search(resourceType, query)).sort();
  }
}

/** Headers of a raw request to a test server: the admin token, plus `extra`. */
export function authHeaders(url: string, extra?: HeadersInit): Headers {
  const headers = new Headers(extra);
  const fhirUrl = url.slice(0, url.indexOf('/fhir/R4/') + '/fhir/R4/'.length);
  const authorization = authorizationFor(fhirUrl);
  if (authorization && !headers.has('Authorization')) {
    headers.set('Authorization', authorization);
  }
  return headers;
}

/** A raw HTTP request as the admin client, for assertions on the status code and body the client would hide. */
export async function fetchJson(
  url: string,
  init?: RequestInit,
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whichever resource the server sent back
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, headers: authHeaders(url, init?.headers) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Concatenated diagnostics/details text of an OperationOutcome, for "names the parameter" checks. */
export function outcomeText(outcome: OperationOutcome | undefined): string {
  return (outcome?.issue ?? []).map((i) => `${i.details?.text ?? ''} ${i.diagnostics ?? ''} ${(i.expression ?? []).join(' ')}`).join('\n');
}
