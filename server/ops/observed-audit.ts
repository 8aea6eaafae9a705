import type { AuditEvent } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { Logger } from 'pino';
import { AuditLog, type AuditLogOptions, type RecordOptions } from '../audit/audit-log.ts';

/**
 * The audit log, with a listener that sees every event as it is recorded: bot executions and
 * subscription deliveries already record an AuditEvent each, so metrics read them here instead of
 * adding counters inside the runtime and the delivery workers.
 */
export class ObservedAuditLog extends AuditLog {
  private readonly listener: (event: AuditEvent) => void;

  constructor(pool: pg.Pool, logger: Logger, listener: (event: AuditEvent) => void, options: AuditLogOptions = {}) {
    super(pool, logger, options);
    this.listener = listener;
  }

  override record(event: AuditEvent, options?: RecordOptions): Promise<void> {
    try {
      this.listener(event);
    } catch {
      // Metrics must never cost an audit record.
    }
    return super.record(event, options);
  }
}
