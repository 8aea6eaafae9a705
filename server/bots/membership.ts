import { createReference, type WithId } from '@medplum/core';
import type { AccessPolicy, Attachment, Bot, Project, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { findRole, ROLE_SYSTEM } from '../auth/admin.ts';
import type { PostgresRepository } from '../fhir/repo.ts';

/** The project of a single-project server (recorded by the first start). */
async function defaultProjectId(repo: PostgresRepository): Promise<string> {
  const { rows } = await repo.query<{ value: { projectId: string } }>("SELECT value FROM server_state WHERE key = 'bootstrap'");
  if (!rows[0]) {
    throw new Error('The server has no project yet');
  }
  return rows[0].value.projectId;
}

/** The bot's AccessPolicy: an explicit reference, or the role tagged on the Bot (ROLE_SYSTEM|code). */
async function policyFor(
  repo: PostgresRepository,
  bot: Bot,
  accessPolicy?: Reference<AccessPolicy>,
): Promise<Reference<AccessPolicy> | undefined> {
  if (accessPolicy?.reference) {
    return { reference: accessPolicy.reference };
  }
  const role = bot.meta?.tag?.find((t) => t.system === ROLE_SYSTEM)?.code;
  return role ? createReference(await findRole(repo, role)) : undefined;
}

export async function findBotMembership(repo: PostgresRepository, botId: string): Promise<WithId<ProjectMembership> | undefined> {
  const bundle = await repo.search<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'user', operator: 'eq', value: `Bot/${botId}` }],
    count: 1,
  });
  return bundle.entry?.[0]?.resource;
}

/**
 * The bot's own ProjectMembership, created when missing (a Bot created with a plain FHIR
 * `POST /Bot`). Without an AccessPolicy (none given, no role tag on the Bot) the membership
 * grants nothing: least privilege by default.
 */
export async function ensureBotMembership(
  repo: PostgresRepository,
  bot: WithId<Bot>,
  projectId?: string,
  accessPolicy?: Reference<AccessPolicy>,
): Promise<WithId<ProjectMembership>> {
  const existing = await findBotMembership(repo, bot.id);
  if (existing) {
    return existing;
  }
  const policy = await policyFor(repo, bot, accessPolicy);
  const project = projectId ?? (await defaultProjectId(repo));
  return repo.createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${project}` },
    user: createReference(bot) as ProjectMembership['user'],
    profile: createReference(bot) as ProjectMembership['profile'],
    admin: false,
    ...(policy ? { accessPolicy: policy } : {}),
  });
}

export interface NewBot {
  name: string;
  description?: string;
  sourceCode?: Attachment;
  runtimeVersion?: Bot['runtimeVersion'];
  accessPolicy?: Reference<AccessPolicy>;
  identifier?: Bot['identifier'];
}

/** `POST /admin/projects/:id/bot`: the Bot and its membership, together. */
export async function createBot(repo: PostgresRepository, project: WithId<Project>, input: NewBot): Promise<WithId<Bot>> {
  return repo.withTransaction(
    async (tx) => {
      const bot = await tx.createResource<Bot>({
        resourceType: 'Bot',
        name: input.name,
        ...(input.description ? { description: input.description } : {}),
        ...(input.identifier ? { identifier: input.identifier } : {}),
        runtimeVersion: 'vmcontext',
        ...(input.sourceCode ? { sourceCode: input.sourceCode } : {}),
      });
      await ensureBotMembership(tx, bot, project.id, input.accessPolicy);
      return bot;
    },
    { resourceTypes: ['Bot', 'ProjectMembership'] },
  );
}
