/** The URLs and codes of docs/workflows.md, "Notifications: CommunicationRequest in, Communication out". */
const ES = 'https://emergisphere.dev/fhir';

export const CATEGORY_SYSTEM = `${ES}/CodeSystem/communication-category`;
export type Category = 'page' | 'staff-notice' | 'family-update' | 'appointment' | 'payment';

/** CareTeam identifier system of the on-call lists (`ES/on-call|ed-physician`). */
export const ON_CALL_SYSTEM = `${ES}/on-call`;
/** CommunicationRequest extension (valueDuration): how long a stat page waits for an acknowledgement. */
export const ESCALATE_AFTER_EXT = `${ES}/StructureDefinition/escalate-after`;
export const DEFAULT_ESCALATE_AFTER_MS = 5 * 60_000;
/**
 * CommunicationRequest extension (valueDateTime): when the escalation sweep next looks at a stat
 * page (searchable as `escalation-due`, fhir-profiles/search-parameters): the sweep reads only the
 * pages due, and those nobody stamped yet.
 */
export const ESCALATION_DUE_EXT = `${ES}/StructureDefinition/escalation-due`;
/** How long a page with nothing more to escalate (every level paged, or no team) waits before the sweep looks again. */
export const RECHECK_DONE_MS = 60 * 60_000;
/** Communication extension (valueInteger): 0 = the first page, 1 = the next on the list, 2 = the whole team. */
export const ESCALATION_LEVEL_EXT = `${ES}/StructureDefinition/escalation-level`;
/**
 * CommunicationRequest extension (valueBoolean true): its first-level in-app Communications were
 * committed with it (the smart-device alert transaction); the agent finds them and adds the
 * external channels instead of writing them again.
 */
export const IN_APP_DELIVERED_EXT = `${ES}/StructureDefinition/in-app-delivered`;
/** Communication extension, one per channel: channel, status, vendorId, error, attempt. */
export const DELIVERY_EXT = `${ES}/StructureDefinition/delivery`;

export const CONSENT_PURPOSE_SYSTEM = `${ES}/CodeSystem/consent-purpose`;
export const FAMILY_UPDATES = 'family-updates';

export const PARTICIPATION_MODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';

/** The bot's name in idempotency keys. */
export const BOT_NAME = 'communication';
