/**
 * Resource types whose outbox NOTIFY names the resource (`Type/id`) rather than only its type: every
 * instance drops what it cached about it — a Bot's code and secrets, a Project or membership, and
 * for a Consent or RelatedPerson the auth contexts (a family member's access hangs on the
 * patient's consent). One list for the single-resource and the batched create statements.
 */
export const NAMED_IN_NOTIFY_SQL = "('Bot', 'Project', 'ProjectMembership', 'Consent', 'RelatedPerson')";
