import { randomUUID } from 'node:crypto';
import { type Filter, Operator } from '@medplum/core';
import type { AuditEvent, Group, OperationOutcome, ProjectMembership, Reference, Resource, ResourceType } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { indexSource } from '../../audit/event-index.ts';
import { exportAuditEvent } from '../../audit/events.ts';
import { ADMIN_ONLY_TYPES, type CompiledPolicy, hiddenFields } from '../../auth/access-policy.ts';
import { toOutcome } from '../../http/outcomes.ts';
import { patientCompartment } from '../operations/everything.ts';
import type { PostgresRepository, RepositoryOptions } from '../repo.ts';
import { buildSearchQuery } from '../search/execute.ts';
import type { ExportRequest } from './params.ts';

/**
 * Runs Bulk Data export jobs in the background of the server process. Jobs live in
 * `bulk_export_job`; any instance claims an accepted job, or one whose instance stopped sending
 * heartbeats (crashed), and runs it as the caller: the caller's compiled AccessPolicy was stored
 * with the job and every type is read through the search layer under it, so an export never
 * returns more than the caller could search for. Output goes to `bulk_export_file` as NDJSON.
 */

export interface ExportRunnerConfig {
  /** A repository; with a policy, it acts as that caller. */
  repo(options?: RepositoryOptions): PostgresRepository;
  logger: Logger;
  /** Resources per database read. */
  batchSize?: number;
  /** Resources per NDJSON file. */
  fileSize?: number;
  /** How often idle instances look for jobs to take over, ms. */
  sweepMs?: number;
  /** A heartbeat older than this means the instance running the job has died, seconds. */
  staleSeconds?: number;
  maxAttempts?: number;
  /** Records the AuditEvent of each finished or failed export (the server's audit log). */
  audit?: (event: AuditEvent) => Promise<void>;
}

export interface ExportJobRow {
  id: string;
  status: 'accepted' | 'running' | 'completed' | 'failed';
  request_url: string;
  request: ExportRequest;
  policy: CompiledPolicy;
  membership_id: string;
  transaction_time: Date;
  progress: string | null;
  attempts: number;
  errors: OperationOutcome[];
  failure: string | null;
}

/** Types a system-level export leaves out unless `_type` names them: security configuration, the audit trail, raw bytes. */
const NOT_BY_DEFAULT = new Set([...ADMIN_ONLY_TYPES, 'AuditEvent', 'Binary']);

class Cancelled extends Error {}

export class ExportRunner {
  private readonly instance = randomUUID();
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly batchSize: number;
  private readonly fileSize: number;
  private readonly staleSeconds: number;
  private readonly maxAttempts: number;

  private readonly config: ExportRunnerConfig;

  constructor(config: ExportRunnerConfig) {
    this.config = config;
    this.batchSize = config.batchSize ?? 2000;
    this.fileSize = config.fileSize ?? 50_000;
    this.staleSeconds = config.staleSeconds ?? 60;
    this.maxAttempts = config.maxAttempts ?? 3;
  }

  private get system(): PostgresRepository {
    return this.config.repo();
  }

  start(): void {
    this.timer = setInterval(() => this.poke(), this.config.sweepMs ?? 15_000);
    this.timer.unref();
    this.poke();
  }

  /** Stops claiming; running jobs stop at their next batch and are resumed by whoever claims them next. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.running.values()]);
  }

  async create(id: string, requestUrl: string, request: ExportRequest, policy: CompiledPolicy, membershipId: string): Promise<void> {
    await this.system.query(
      `INSERT INTO bulk_export_job (id, status, request_url, request, policy, membership_id, transaction_time)
       VALUES ($1, 'accepted', $2, $3, $4, $5, clock_timestamp())`,
      [id, requestUrl, JSON.stringify(request), JSON.stringify(policy), membershipId],
    );
    this.poke();
  }

  async get(id: string): Promise<ExportJobRow | undefined> {
    const { rows } = await this.system.query<ExportJobRow>('SELECT * FROM bulk_export_job WHERE id = $1', [id]);
    return rows[0];
  }

  async files(id: string): Promise<{ file_no: number; resource_type: string; count: number }[]> {
    const { rows } = await this.system.query<{ file_no: number; resource_type: string; count: number }>(
      'SELECT file_no, resource_type, count FROM bulk_export_file WHERE job_id = $1 ORDER BY file_no',
      [id],
    );
    return rows;
  }

  async fileData(id: string, fileNo: number): Promise<string | undefined> {
    const { rows } = await this.system.query<{ data: string }>('SELECT data FROM bulk_export_file WHERE job_id = $1 AND file_no = $2', [
      id,
      fileNo,
    ]);
    return rows[0]?.data;
  }

  /** Cancels (or, when done, deletes) a job and its files; a running job stops at its next batch. */
  async delete(id: string): Promise<void> {
    await this.system.query('DELETE FROM bulk_export_job WHERE id = $1', [id]);
  }

  /** Claims and starts jobs while there are any to take. */
  poke(): void {
    if (this.stopped) {
      return;
    }
    this.claim()
      .then((job) => {
        if (job) {
          const work = this.run(job).finally(() => this.running.delete(job.id));
          this.running.set(job.id, work);
          this.poke();
        }
      })
      .catch((err) => this.config.logger.error({ err }, 'bulk export: claiming a job failed'));
  }

  private async claim(): Promise<ExportJobRow | undefined> {
    // Jobs past their attempts (they crashed the instance, or kept dying with it) are given up.
    await this.system.query(
      `UPDATE bulk_export_job SET status = 'failed', finished_at = clock_timestamp(),
         failure = 'The export was interrupted ' || attempts || ' times; start it again'
       WHERE status = 'running' AND attempts >= $1 AND heartbeat_at < clock_timestamp() - make_interval(secs => $2)`,
      [this.maxAttempts, this.staleSeconds],
    );
    const { rows } = await this.system.query<ExportJobRow>(
      `UPDATE bulk_export_job SET status = 'running', instance = $1, heartbeat_at = clock_timestamp(), attempts = attempts + 1,
         progress = 'starting'
       WHERE id = (
         SELECT id FROM bulk_export_job
         WHERE status = 'accepted' OR (status = 'running' AND heartbeat_at < clock_timestamp() - make_interval(secs => $2))
         ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [this.instance, this.staleSeconds],
    );
    return rows[0];
  }

  /** Records progress; throws Cancelled when the job was deleted, taken over, or the server is stopping. */
  private async heartbeat(id: string, progress: string): Promise<void> {
    if (this.stopped) {
      throw new Cancelled();
    }
    const { rowCount } = await this.system.query(
      `UPDATE bulk_export_job SET heartbeat_at = clock_timestamp(), progress = $3
       WHERE id = $1 AND instance = $2 AND status = 'running'`,
      [id, this.instance, progress],
    );
    if (!rowCount) {
      throw new Cancelled();
    }
  }

  private async run(job: ExportJobRow): Promise<void> {
    const log = this.config.logger.child({ exportJob: job.id });
    try {
      // A resumed job starts over: its partial files are from a run that did not finish.
      await this.system.query('DELETE FROM bulk_export_file WHERE job_id = $1', [job.id]);
      const counts = new Map<string, number>();
      const errors = await this.export(job, counts);
      const { rowCount } = await this.system.query(
        `UPDATE bulk_export_job SET status = 'completed', finished_at = clock_timestamp(), progress = 'done', errors = $3
         WHERE id = $1 AND instance = $2 AND status = 'running'`,
        [job.id, this.instance, JSON.stringify(errors)],
      );
      if (rowCount) {
        await this.audit(job, counts);
      }
      log.info('bulk export completed');
    } catch (err) {
      if (err instanceof Cancelled) {
        return;
      }
      log.error({ err }, 'bulk export failed');
      const text = toOutcome(err).issue?.[0]?.details?.text ?? (err as Error).message;
      await this.system
        .query(
          `UPDATE bulk_export_job SET status = 'failed', finished_at = clock_timestamp(), failure = $3
           WHERE id = $1 AND instance = $2 AND status = 'running'`,
          [job.id, this.instance, text],
        )
        .then(() => this.audit(job, new Map(), text))
        .catch((e) => log.error({ err: e }, 'bulk export: recording the failure failed'));
    }
  }

  /** One AuditEvent per export, as its caller (the membership's profile): types, _since and counts. */
  private async audit(job: ExportJobRow, counts: Map<string, number>, failure?: string): Promise<void> {
    if (!this.config.audit) {
      return;
    }
    let who: Reference = { display: `ProjectMembership/${job.membership_id}` };
    let clientId: string | undefined;
    try {
      const membership = await this.system.readResource<ProjectMembership>('ProjectMembership', job.membership_id);
      who = membership.profile ?? who;
      clientId = membership.profile?.reference?.startsWith('ClientApplication/') ? membership.profile.reference.slice(18) : undefined;
    } catch (err) {
      this.config.logger.warn({ err, exportJob: job.id }, 'bulk export: the caller of an export could not be read for its audit event');
    }
    await this.config.audit(
      exportAuditEvent({
        who,
        clientId,
        jobId: job.id,
        requestUrl: job.request_url,
        since: job.request.since,
        counts: [...counts].map(([type, count]) => ({ type, count })),
        failure,
      }),
    );
  }

  private async export(job: ExportJobRow, counts: Map<string, number>): Promise<OperationOutcome[]> {
    const repo = this.config.repo({ policy: job.policy });
    const req = job.request;
    const errors: OperationOutcome[] = [];
    const patients = req.level === 'group' ? await this.groupPatients(repo, req.groupId as string) : undefined;
    const types = req.types ?? (await this.defaultTypes(req.level));
    const writer = new FileWriter(this.system, job.id, this.fileSize);
    let exported = 0;
    for (const [index, type] of types.entries()) {
      if (req.level !== 'system' && type !== 'Patient' && !patientCompartment().has(type)) {
        errors.push(issue('not-supported', `${type} is not in the Patient compartment, so a patient-level export has none`));
        continue;
      }
      if (repo.access(type, 'search').kind === 'none') {
        if (req.types) {
          errors.push(issue('forbidden', `Not allowed to search ${type}; it is left out of the export`));
        }
        continue;
      }
      await repo.auditVisible(type === 'AuditEvent');
      const redact = hiddenFields(job.policy, type).length > 0;
      const filterSets = req.typeFilters?.[type] ?? [[]];
      // A resource matching several _typeFilters of its type is written once.
      const seen = filterSets.length > 1 ? new Set<string>() : undefined;
      for (const filters of filterSets) {
        const all: Filter[] = req.since
          ? [...filters, { code: '_lastUpdated', operator: Operator.GREATER_THAN_OR_EQUALS, value: req.since }]
          : filters;
        for await (const rows of this.scan(repo, type, all, req.level, patients)) {
          for (const row of rows) {
            if (seen?.has(row.id)) continue;
            seen?.add(row.id);
            await writer.add(type as ResourceType, redact ? JSON.stringify(repo.redact(JSON.parse(row.content) as Resource)) : row.content);
            exported++;
            counts.set(type, (counts.get(type) ?? 0) + 1);
          }
          await this.heartbeat(job.id, `${type} (${index + 1} of ${types.length} types): ${exported} resources written`);
        }
      }
      await writer.flush();
    }
    return errors;
  }

  /** The rows of one type the caller may search, in id order, a batch at a time. */
  private async *scan(
    repo: PostgresRepository,
    type: string,
    filters: Filter[],
    level: ExportRequest['level'],
    patients: string[] | undefined,
  ): AsyncGenerator<{ id: string; content: string }[]> {
    const q = buildSearchQuery(repo, { resourceType: type as ResourceType, filters });
    const values = q.params.values.slice(0, q.whereParamCount);
    const conds = [q.where];
    if (level !== 'system') {
      if (type === 'Patient') {
        if (patients) conds.push(`r.id = ANY($${values.push(patients)}::text[])`);
      } else {
        const codes = patientCompartment().get(type) ?? [];
        const target = patients ? `AND x.target_id = ANY($${values.push(patients)}::text[])` : '';
        conds.push(`EXISTS (SELECT 1 FROM ${indexSource('sp_reference', type)} x WHERE x.id = r.id AND x.resource_type = r.resource_type
          AND x.code = ANY($${values.push(codes)}::text[]) AND x.target_type = 'Patient' ${target})`);
      }
    }
    const cursor = values.length + 1;
    const limit = values.length + 2;
    const sql = `SELECT r.id, r.content FROM resource r WHERE ${conds.join(' AND ')} AND r.id > $${cursor} ORDER BY r.id LIMIT $${limit}`;
    let after = '';
    for (;;) {
      const { rows } = await repo.query<{ id: string; content: string }>(sql, [...values, after, this.batchSize]);
      if (rows.length === 0) return;
      yield rows;
      if (rows.length < this.batchSize) return;
      after = rows[rows.length - 1].id;
    }
  }

  /** Every type holding data (read along the primary key, so without a table scan). */
  private async defaultTypes(level: ExportRequest['level']): Promise<string[]> {
    if (level !== 'system') {
      return ['Patient', ...[...patientCompartment().keys()].filter((t) => t !== 'Patient' && !NOT_BY_DEFAULT.has(t))];
    }
    const { rows } = await this.system.query<{ t: string }>(
      `WITH RECURSIVE types(t) AS (
         SELECT min(resource_type) FROM resource
         UNION ALL SELECT (SELECT min(resource_type) FROM resource WHERE resource_type > types.t) FROM types WHERE types.t IS NOT NULL)
       SELECT t FROM types WHERE t IS NOT NULL`,
    );
    return rows.map((r) => r.t).filter((t) => !NOT_BY_DEFAULT.has(t));
  }

  /** The Group's Patient members, read as the caller (404 when the caller may not read the Group). */
  private async groupPatients(repo: PostgresRepository, groupId: string): Promise<string[]> {
    const group = await repo.readResource<Group>('Group', groupId);
    return (group.member ?? [])
      .filter((m) => !m.inactive)
      .map((m) => /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(m.entity.reference ?? '')?.[1])
      .filter((id): id is string => !!id);
  }
}

function issue(code: 'forbidden' | 'not-supported', text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

/** Collects NDJSON lines of one type and stores them as files of at most `fileSize` resources. */
class FileWriter {
  private lines: string[] = [];
  private type: ResourceType | '' = '';
  private fileNo = 0;

  private readonly repo: PostgresRepository;
  private readonly jobId: string;
  private readonly fileSize: number;

  constructor(repo: PostgresRepository, jobId: string, fileSize: number) {
    this.repo = repo;
    this.jobId = jobId;
    this.fileSize = fileSize;
  }

  async add(type: ResourceType, json: string): Promise<void> {
    if (type !== this.type) {
      await this.flush();
      this.type = type;
    }
    // Stored JSON is compact already; NDJSON needs one resource per line.
    this.lines.push(json.includes('\n') ? JSON.stringify(JSON.parse(json)) : json);
    if (this.lines.length >= this.fileSize) {
      await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.lines.length === 0) {
      return;
    }
    this.fileNo++;
    await this.repo.query('INSERT INTO bulk_export_file (job_id, file_no, resource_type, count, data) VALUES ($1, $2, $3, $4, $5)', [
      this.jobId,
      this.fileNo,
      this.type,
      this.lines.length,
      `${this.lines.join('\n')}\n`,
    ]);
    this.lines = [];
  }
}
