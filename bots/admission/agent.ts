/** Who the admission agent is in the records it writes, and how it reads its secrets. */
import type { BotEvent } from '@medplum/core';
import type { Reference } from '@medplum/fhirtypes';
import { BOT_SYSTEM } from '../lib/workflow.ts';
import { BOT_NAME } from './codes.ts';

export const AGENT: Reference = {
  identifier: { system: BOT_SYSTEM, value: BOT_NAME },
  display: 'EmergiSphere admission agent (automated)',
};

export type Secrets = BotEvent['secrets'];
export const secret = (secrets: Secrets, name: string): string | undefined => secrets?.[name]?.valueString || undefined;
