// Worker thread of search-1m.ts: generates its share of the dataset, runs the server's real
// indexer on every resource and bulk-inserts resource, resource_history and sp_* rows with
// multi-row INSERT ... SELECT FROM unnest(...). Building batch k+1 overlaps inserting batch k.
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { loadProfiles } from '../../../server/fhir/definitions.ts';
import { buildIndexRows, type IndexRows } from '../../../server/fhir/indexer.ts';
import { type BatchRange, batches, type DatasetShape, storedResource } from './search-dataset.ts';

export interface WorkerInput {
  databaseUrl: string;
  profilesDir: string;
  shape: DatasetShape;
  batchSize: number;
  worker: number;
  workers: number;
}

export type WorkerMessage =
  | { type: 'progress'; resources: number; indexRows: number }
  | { type: 'done' }
  | { type: 'error'; message: string };

/** Index tables in IndexRows order: key, table, columns after (resource_type, id), their array types. */
export const INDEX_SHAPES: [keyof IndexRows, string, string[], string[]][] = [
  ['token', 'sp_token', ['code', 'system', 'value'], ['text', 'text', 'text']],
  ['string', 'sp_string', ['code', 'value', 'raw'], ['text', 'text', 'text']],
  ['date', 'sp_date', ['code', 'lo', 'hi'], ['text', 'timestamptz', 'timestamptz']],
  ['number', 'sp_number', ['code', 'value'], ['text', 'numeric']],
  ['quantity', 'sp_quantity', ['code', 'value', 'system', 'unit', 'unit_code'], ['text', 'numeric', 'text', 'text', 'text']],
  ['reference', 'sp_reference', ['code', 'target_type', 'target_id', 'reference'], ['text', 'text', 'text', 'text']],
  ['uri', 'sp_uri', ['code', 'value'], ['text', 'text']],
];

const RESOURCE_SQL = `WITH x AS MATERIALIZED (
    SELECT * FROM unnest($2::text[], $3::uuid[], $4::timestamptz[], $5::text[]) AS u(id, version_id, last_updated, content)),
  r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
    SELECT $1, id, version_id, last_updated, false, content FROM x)
INSERT INTO resource_history (version_id, resource_type, id, last_updated, deleted, content)
  SELECT version_id, $1, id, last_updated, false, content FROM x`;

function indexSql(): string {
  let p = 2; // $1 is resource_type
  const ctes = INDEX_SHAPES.map(([, table, cols, types]) => {
    const arrays = ['text', ...types].map((t) => `$${p++}::${t}[]`);
    return `i_${table} AS (INSERT INTO ${table} (resource_type, id, ${cols.join(', ')}) SELECT $1, * FROM unnest(${arrays.join(', ')}))`;
  });
  return `WITH ${ctes.join(',\n  ')}\nSELECT 1`;
}
const INDEX_SQL = indexSql();

interface Built {
  resourceParams: unknown[];
  indexParams: unknown[];
  resources: number;
  indexRows: number;
}

function build(range: BatchRange, shape: DatasetShape): Built {
  const ids: string[] = [];
  const versions: string[] = [];
  const updated: string[] = [];
  const contents: string[] = [];
  const columns = INDEX_SHAPES.map(([, , cols]) => Array.from({ length: cols.length + 1 }, () => [] as unknown[]));
  let indexRows = 0;
  for (let k = range.start; k < range.end; k++) {
    const resource = storedResource(k, shape);
    const id = resource.id as string;
    ids.push(id);
    versions.push(resource.meta?.versionId as string);
    updated.push(resource.meta?.lastUpdated as string);
    contents.push(JSON.stringify(resource));
    const rows = buildIndexRows(resource);
    INDEX_SHAPES.forEach(([key], t) => {
      const cols = columns[t];
      for (const row of rows[key] as unknown[][]) {
        cols[0].push(id);
        for (let c = 0; c < row.length; c++) cols[c + 1].push(row[c]);
        indexRows++;
      }
    });
  }
  return {
    resourceParams: [range.resourceType, ids, versions, updated, contents],
    indexParams: [range.resourceType, ...columns.flat()],
    resources: range.end - range.start,
    indexRows,
  };
}

async function run(input: WorkerInput): Promise<void> {
  loadProfiles(input.profilesDir);
  const client = new pg.Client({ connectionString: input.databaseUrl });
  await client.connect();
  try {
    // Losing the last batches in a crash is fine for a benchmark load; waiting for every commit's fsync is not.
    await client.query('SET synchronous_commit = off');
    const mine = batches(input.shape, input.batchSize).filter((_, i) => i % input.workers === input.worker);
    let inflight: Promise<void> | undefined;
    for (const range of mine) {
      const built = build(range, input.shape);
      if (inflight) await inflight;
      inflight = (async () => {
        await client.query(RESOURCE_SQL, built.resourceParams);
        await client.query(INDEX_SQL, built.indexParams);
        parentPort?.postMessage({ type: 'progress', resources: built.resources, indexRows: built.indexRows } satisfies WorkerMessage);
      })();
      // Do not let a failed insert go unnoticed until the next batch is built.
      inflight.catch(() => undefined);
    }
    if (inflight) await inflight;
  } finally {
    await client.end();
  }
}

if (parentPort && workerData) {
  run(workerData as WorkerInput).then(
    () => parentPort?.postMessage({ type: 'done' } satisfies WorkerMessage),
    (err: unknown) => parentPort?.postMessage({ type: 'error', message: (err as Error)?.stack ?? String(err) } satisfies WorkerMessage),
  );
}
