import { allOk, badRequest, forbidden, getReferenceString, OperationOutcomeError, type WithId } from '@medplum/core';
import type { AccessPolicy, ClientApplication, Project, ProjectMembership, ProjectSetting, Reference } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { createClient, rotateClientSecret } from '../auth/admin.ts';
import type { AuthContext } from '../auth/context.ts';
import type { PostgresRepository, RepositoryOptions } from '../fhir/repo.ts';
import { FHIR_JSON, outcome, sendOutcome } from '../http/outcomes.ts';
import { inviteMember, parseInvite } from './invite.ts';
import { deliverInvite } from './invite-delivery.ts';

export interface ProjectAdminDeps {
  pool: pg.Pool;
  /** Where the app is served: the base of set-password links. */
  appBaseUrl: string;
  repoFor(request: FastifyRequest, options?: RepositoryOptions): PostgresRepository;
  /** Drops cached auth contexts after a membership changes. */
  invalidateAuth(): void;
}

type ProjectParams = { projectId: string };
type MemberParams = { projectId: string; membershipId: string };

/** Only an admin of the project named in the URL; anyone else gets 403. */
function requireProjectAdmin(request: FastifyRequest, projectId: string): AuthContext {
  const ctx = request.auth;
  if (!ctx?.membership.admin || ctx.project.id !== projectId) {
    throw new OperationOutcomeError(forbidden);
  }
  return ctx;
}

function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (!body || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw new OperationOutcomeError(badRequest('Expected a JSON object body'));
  }
  return body as Record<string, unknown>;
}

function roleOf(project: Project, membership: ProjectMembership): 'owner' | 'admin' | 'member' {
  if (project.owner?.reference && membership.user?.reference === project.owner.reference) return 'owner';
  return membership.admin ? 'admin' : 'member';
}

/** A membership of this project, or 404 (one of another project is not revealed). */
async function memberOf(repo: PostgresRepository, project: WithId<Project>, membershipId: string): Promise<WithId<ProjectMembership>> {
  const membership = await repo.readResource<ProjectMembership>('ProjectMembership', membershipId).catch(() => undefined);
  if (!membership || membership.project?.reference !== getReferenceString(project)) {
    throw new OperationOutcomeError({
      ...outcome('not-found', `ProjectMembership ${membershipId} not found in this project`),
      id: 'not-found',
    });
  }
  return membership;
}

/**
 * Medplum's project administration API (`admin/projects/:projectId/...`), as the official CLI and
 * app call it: project details and members, invite, client applications, project secrets, and
 * reading, changing and removing a membership. `.../bot` lives with the bots (bots/routes.ts).
 */
export function registerProjectAdminRoutes(fastify: FastifyInstance, deps: ProjectAdminDeps): void {
  fastify.get<{ Params: ProjectParams }>('/admin/projects/:projectId', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const repo = deps.repoFor(request);
    const project = await repo.readResource<Project>('Project', ctx.project.id);
    const memberships = await repo.searchResources<ProjectMembership>({
      resourceType: 'ProjectMembership',
      filters: [{ code: 'project', operator: 'eq', value: getReferenceString(project) }],
      count: 1000,
    });
    const members = memberships.map((m) => ({
      id: m.id,
      membershipId: m.id,
      profile: m.profile?.reference,
      user: m.user?.reference,
      name: m.profile?.display,
      accessPolicy: m.accessPolicy,
      access: m.access,
      admin: !!m.admin,
      active: m.active !== false,
      role: roleOf(project, m),
    }));
    return reply.send({ project, members });
  });

  fastify.post<{ Params: ProjectParams }>('/admin/projects/:projectId/invite', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const invite = parseInvite(request.body);
    const repo = deps.repoFor(request);
    const result = await inviteMember(repo, ctx.project, invite);
    // The project as stored (with its secrets): the auth context's copy may predate a secrets change.
    const project = await repo.readResource<Project>('Project', ctx.project.id);
    const membership = await deliverInvite(project, invite, result, deps.appBaseUrl, request.log);
    return reply.type(FHIR_JSON).send(JSON.stringify(membership));
  });

  fastify.post<{ Params: ProjectParams }>('/admin/projects/:projectId/client', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const body = jsonBody(request);
    if (typeof body.name !== 'string' || !body.name.trim()) {
      throw new OperationOutcomeError(badRequest('Client name is required', 'name'));
    }
    const repo = deps.repoFor(request);
    const accessPolicy = body.accessPolicy as Reference<AccessPolicy> | undefined;
    if (accessPolicy) {
      await repo.readReference<AccessPolicy>(accessPolicy).catch(() => {
        throw new OperationOutcomeError(badRequest(`AccessPolicy ${accessPolicy.reference} not found`, 'accessPolicy'));
      });
    }
    const { client, secret } = await createClient(repo, ctx.project, {
      name: body.name.trim(),
      description: typeof body.description === 'string' ? body.description : undefined,
      redirectUri: typeof body.redirectUri === 'string' ? body.redirectUri : undefined,
      accessPolicy,
    });
    // As Medplum answers: the secret in the resource, shown this once (we keep only its hash).
    return reply
      .code(201)
      .type(FHIR_JSON)
      .send(JSON.stringify({ ...client, secret }));
  });

  fastify.post<{ Params: ProjectParams }>('/admin/projects/:projectId/secrets', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const secrets = request.body;
    if (!Array.isArray(secrets) || secrets.some((s) => !s || typeof s !== 'object' || typeof s.name !== 'string' || !s.name)) {
      throw new OperationOutcomeError(badRequest('Expected an array of secrets, each { name, value[x] }', 'secret'));
    }
    const repo = deps.repoFor(request);
    const project = await repo.readResource<Project>('Project', ctx.project.id);
    const updated = await repo.updateResource<Project>({ ...project, secret: secrets as ProjectSetting[] });
    return reply.type(FHIR_JSON).send(JSON.stringify(updated));
  });

  fastify.get<{ Params: MemberParams }>('/admin/projects/:projectId/members/:membershipId', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const membership = await memberOf(deps.repoFor(request), ctx.project, request.params.membershipId);
    return reply.type(FHIR_JSON).send(JSON.stringify(membership));
  });

  fastify.post<{ Params: MemberParams }>('/admin/projects/:projectId/members/:membershipId', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const body = jsonBody(request) as unknown as ProjectMembership;
    if (body.resourceType !== 'ProjectMembership' || body.id !== request.params.membershipId) {
      throw new OperationOutcomeError(badRequest('Body must be the ProjectMembership with the id of the URL', 'id'));
    }
    const repo = deps.repoFor(request);
    const current = await memberOf(repo, ctx.project, request.params.membershipId);
    if (current.id === ctx.membership.id && current.admin && body.admin === false) {
      throw new OperationOutcomeError(badRequest('You cannot remove your own admin role', 'admin'));
    }
    // Who and where stay as they are: an update changes the role, not the person or the project.
    const updated = await repo.updateResource<ProjectMembership>({
      ...body,
      project: current.project,
      user: current.user,
      profile: body.profile?.reference === current.profile?.reference ? body.profile : current.profile,
    });
    deps.invalidateAuth();
    return reply.type(FHIR_JSON).send(JSON.stringify(updated));
  });

  fastify.delete<{ Params: MemberParams }>('/admin/projects/:projectId/members/:membershipId', async (request, reply) => {
    const ctx = requireProjectAdmin(request, request.params.projectId);
    const repo = deps.repoFor(request);
    const membership = await memberOf(repo, ctx.project, request.params.membershipId);
    if (membership.id === ctx.membership.id) {
      throw new OperationOutcomeError(badRequest('You cannot remove your own membership'));
    }
    await repo.deleteResource('ProjectMembership', membership.id);
    // A removed member's sessions end now, not when their tokens expire.
    await deps.pool.query('UPDATE auth_login SET revoked = true, updated_at = now() WHERE membership_id = $1', [membership.id]);
    deps.invalidateAuth();
    return sendOutcome(reply, allOk, 200);
  });

  // Medplum's `ClientApplication/{id}/$rotate-secret`: a new secret, returned once in the resource.
  fastify.post<{ Params: { id: string } }>('/fhir/R4/ClientApplication/:id/$rotate-secret', async (request, reply) => {
    const ctx = request.auth;
    if (!ctx?.membership.admin) {
      throw new OperationOutcomeError(forbidden);
    }
    const repo = deps.repoFor(request);
    const client = await repo.readResource<ClientApplication>('ClientApplication', request.params.id);
    const secret = await rotateClientSecret(repo, client.id);
    return reply.type(FHIR_JSON).send(JSON.stringify({ ...client, secret }));
  });
}
