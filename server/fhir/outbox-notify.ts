import type { Resource } from '@medplum/fhirtypes';

/**
 * Resource types whose outbox NOTIFY names the resource (`Type/id`) rather than only its type: every
 * instance drops what it cached about it — a Bot's code and secrets, a Project or membership, and
 * for a Consent or RelatedPerson the auth contexts (a family member's access hangs on the
 * patient's consent). One list for the single-resource and the batched create statements.
 */
export const NAMED_IN_NOTIFY_SQL = "('Bot', 'Project', 'ProjectMembership', 'Consent', 'RelatedPerson')";

/**
 * Which writes NOTIFY at their commit: every one (`all`), or only those of the types above
 * (`named`), when the repository wakes the workers itself after the commit (OutboxWakeup).
 */
export type NotifyMode = 'all' | 'named';

/**
 * Wakes subscription workers after a commit that left outbox rows (server/subscriptions/outbox-notifier.ts).
 *
 * Why not NOTIFY inside the writing transaction: PostgreSQL commits the transactions that issued
 * a NOTIFY one at a time, under one lock held across the commit's WAL flush, so concurrent writers
 * stop sharing flushes (measured on the 2-core machine, 8 connections: the server's create
 * statement 4.3–5.0 ms per insert with the NOTIFY, 1.3–1.8 ms without). With a notifier, ordinary
 * writes leave their outbox row silently and the repository calls `written()` once committed.
 * Writes of the types above still NOTIFY inside their transaction: dropping other instances'
 * caches must not depend on this process surviving its commit. A process that dies between its
 * commit and `written()` loses nothing: the workers' fallback poll finds the outbox row.
 */
export interface OutboxWakeup {
  /** `created`: the resources the commit created (updates and deletes are left to the outbox dispatch). */
  written(created: readonly CreatedResource[]): void;
}

/**
 * A resource a commit created, as stored. Subscriptions whose notices need no database (a websocket
 * channel with criteria testable in memory) are matched against it at once, without waiting for the
 * outbox dispatch (SubscriptionEngine.committed).
 */
export type CreatedResource = Resource & { id: string };
