import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WithId } from '@medplum/core';
import type { AccessPolicy, Project } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../fhir/repo.ts';
import { createClient, createUser, ROLE_SYSTEM } from './admin.ts';
import { generateSecret } from './secrets.ts';

const BOOTSTRAP_LOCK = 727_003;

export interface FirstStartCredentials {
  ADMIN_EMAIL?: string;
  ADMIN_PASSWORD?: string;
  ADMIN_CLIENT_ID?: string;
  ADMIN_CLIENT_SECRET?: string;
}

export interface BootstrapResult {
  /** True on the very first start of this database. */
  created: boolean;
  project: WithId<Project>;
  email: string;
  clientId: string;
  /** Only on the first start, and only when generated here (not given by the operator). */
  generatedPassword?: string;
  generatedClientSecret?: string;
}

interface StoredBootstrap {
  projectId: string;
  email: string;
  clientId: string;
}

/**
 * Loads the role AccessPolicies shipped in server-config/roles (upserted by their role
 * tag, so edits to the files take effect on the next start).
 */
export async function loadRoles(repo: PostgresRepository, dir: string): Promise<string[]> {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch {
    return [];
  }
  const roles: string[] = [];
  for (const file of files) {
    const policy = JSON.parse(readFileSync(join(dir, file), 'utf8')) as AccessPolicy;
    const role = policy.meta?.tag?.find((t) => t.system === ROLE_SYSTEM)?.code;
    if (policy.resourceType !== 'AccessPolicy' || !role) {
      throw new Error(`${file}: expected an AccessPolicy tagged with a role code in ${ROLE_SYSTEM}`);
    }
    await repo.conditionalUpdate(policy, {
      resourceType: 'AccessPolicy',
      filters: [{ code: '_tag', operator: 'eq', value: `${ROLE_SYSTEM}|${role}` }],
    });
    roles.push(role);
  }
  return roles;
}

/**
 * First start: creates the project, an admin user and an admin client. Later starts find them
 * and change nothing (an advisory lock makes concurrent first starts safe).
 */
export async function bootstrap(repo: PostgresRepository, creds: FirstStartCredentials): Promise<BootstrapResult> {
  return repo.withTransaction(
    async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
      const { rows } = await tx.query<{ value: StoredBootstrap }>("SELECT value FROM server_state WHERE key = 'bootstrap'");
      if (rows[0]) {
        const stored = rows[0].value;
        return {
          created: false,
          project: await tx.readResource<Project>('Project', stored.projectId),
          email: stored.email,
          clientId: stored.clientId,
        };
      }
      const project = await tx.createResource<Project>({
        resourceType: 'Project',
        name: 'EmergiSphere',
        description: 'Emergency department',
        features: ['bots', 'websocket-subscriptions'],
      });
      const email = (creds.ADMIN_EMAIL ?? 'admin@emergisphere.local').toLowerCase();
      const password = creds.ADMIN_PASSWORD ?? generateSecret(12);
      await createUser(tx, project, { email, password, firstName: 'ED', lastName: 'Administrator', admin: true });
      const { client, secret } = await createClient(tx, project, {
        name: 'EmergiSphere admin client',
        admin: true,
        id: creds.ADMIN_CLIENT_ID,
        secret: creds.ADMIN_CLIENT_SECRET,
      });
      const stored: StoredBootstrap = { projectId: project.id, email, clientId: client.id };
      await tx.query("INSERT INTO server_state (key, value) VALUES ('bootstrap', $1)", [stored]);
      return {
        created: true,
        project,
        email,
        clientId: client.id,
        generatedPassword: creds.ADMIN_PASSWORD ? undefined : password,
        generatedClientSecret: creds.ADMIN_CLIENT_SECRET ? undefined : secret,
      };
    },
    { resourceTypes: ['Project', 'User', 'ClientApplication', 'ProjectMembership', 'Practitioner'] },
  );
}
