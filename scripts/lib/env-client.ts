import { MedplumClient } from '@medplum/core';

/**
 * The MedplumClient that operator commands (deploy-bots, seed, demo) act as: client credentials
 * from MEDPLUM_CLIENT_ID / MEDPLUM_CLIENT_SECRET against MEDPLUM_BASE_URL (default the local server).
 * Exits with code 2 and a usage line when the credentials are missing.
 */
export async function clientFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<MedplumClient> {
  const baseUrl = env.MEDPLUM_BASE_URL ?? 'http://localhost:8103/';
  const clientId = env.MEDPLUM_CLIENT_ID;
  const clientSecret = env.MEDPLUM_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    process.stderr.write('Set MEDPLUM_CLIENT_ID and MEDPLUM_CLIENT_SECRET (and MEDPLUM_BASE_URL, default http://localhost:8103/)\n');
    process.exit(2);
  }
  const medplum = new MedplumClient({ baseUrl, cacheTime: 0 });
  await medplum.startClientLogin(clientId, clientSecret);
  return medplum;
}
