import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MedplumClient } from '@medplum/core';
import type { RunningServer } from '../server.ts';

/** A MedplumClient of this server acting as its bootstrap admin client. */
async function adminClient(server: RunningServer): Promise<MedplumClient> {
  const membership = await server.auth.membershipForUser(`ClientApplication/${server.bootstrap.clientId}`);
  if (!membership) {
    throw new Error('the admin client has no membership');
  }
  const medplum = new MedplumClient({ baseUrl: server.url, cacheTime: 0 });
  medplum.setAccessToken(await server.auth.tokenForMembership(membership.id));
  return medplum;
}

/**
 * Deploys the project's own bots (medplum.config.json) to this server, over HTTP like any
 * client, acting as the admin client. Returns how many were deployed; 0 when there are none.
 * The tooling (esbuild) is a devDependency: without it, this logs and deploys nothing.
 */
export async function deployOwnBots(server: RunningServer, rootDir = process.cwd()): Promise<number> {
  if (!existsSync(resolve(rootDir, 'medplum.config.json'))) {
    return 0;
  }
  const tooling = resolve(rootDir, 'scripts/deploy-bots.ts');
  if (!existsSync(tooling)) {
    return 0;
  }
  const { deployBots, readBotConfig } = (await import(tooling)) as typeof import('../../scripts/deploy-bots.ts');
  if (readBotConfig(rootDir).length === 0) {
    return 0;
  }
  const medplum = await adminClient(server);
  const deployed = await deployBots(medplum, { rootDir, log: (line) => server.logger.info(line) });
  return deployed.length;
}

/**
 * Loads the demo hospital of `seed/` (scripts/seed.ts) into this server, as the admin client.
 * `npm start` calls it on the first start of an empty database so a newcomer sees a working ED.
 * Returns how many seed resources (files, synthetic patients and devices) were written; 0 when the
 * seed or its tooling is absent.
 */
export async function seedHospital(server: RunningServer, rootDir = process.cwd()): Promise<number> {
  const dir = resolve(rootDir, 'seed');
  const tooling = resolve(rootDir, 'scripts/seed.ts');
  if (!existsSync(dir) || !existsSync(tooling)) {
    return 0;
  }
  const { seed } = (await import(tooling)) as typeof import('../../scripts/seed.ts');
  const medplum = await adminClient(server);
  const result = await seed(medplum, { dir, log: (line) => server.logger.info(line) });
  return result.resources + result.syntheticCreated;
}
