import { formatSearchQuery, type MedplumClient, type SearchRequest } from '@medplum/core';
import type { Resource, ResourceType } from '@medplum/fhirtypes';
import { getFieldDefinitions } from '@medplum/react';
import { fieldText, toCsv } from './csv.ts';

/** More rows than a spreadsheet user scrolls through; beyond it Bulk Data `$export` is the tool. */
export const CSV_ROW_CAP = 10_000;
const PAGE_SIZE = 1000;

export interface CsvExport {
  csv: string;
  rows: number;
  /** The search matched more than the cap; only the first CSV_ROW_CAP rows are in the file. */
  truncated: boolean;
}

/** Every page of the search (up to the cap) with the columns on screen, as CSV. */
export async function exportSearchCsv(medplum: MedplumClient, search: SearchRequest, cap = CSV_ROW_CAP): Promise<CsvExport> {
  await medplum.requestSchema(search.resourceType as ResourceType);
  const fields = getFieldDefinitions(search);
  const query = formatSearchQuery({ ...search, offset: 0, count: Math.min(PAGE_SIZE, cap), fields: undefined, total: undefined });
  const resources: Resource[] = [];
  let truncated = false;
  for await (const page of medplum.searchResourcePages(search.resourceType as ResourceType, query.slice(1), { cache: 'no-cache' })) {
    for (const resource of page) {
      if (resources.length === cap) {
        truncated = true;
        break;
      }
      resources.push(resource);
    }
    if (truncated) break;
  }
  const header = fields.map((f) => f.name);
  const rows = resources.map((r) => fields.map((f) => fieldText(r, f)));
  return { csv: toCsv([header, ...rows]), rows: resources.length, truncated };
}

/** Hands the text to the browser as a file download. */
export function downloadText(text: string, fileName: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // The download has started by now; the URL only keeps the blob alive.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
