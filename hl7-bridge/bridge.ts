import type { MedplumClient } from '@medplum/core';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApiAuth } from './api/auth.ts';
import { startApi } from './api/server.ts';
import type { ChannelsConfig } from './config.ts';
import { InboundChannel } from './inbound/channel.ts';
import { BotConverter } from './inbound/converter.ts';
import { ConversionWorkers } from './inbound/workers.ts';
import { Metrics } from './metrics.ts';
import { OutboundQueue } from './outbound/queue.ts';
import { DestinationSender } from './outbound/sender.ts';
import { MessageStore } from './store/message-store.ts';
import { migrateStore } from './store/migrate.ts';
import { OutboundStore } from './store/outbound-store.ts';
import { createStorePool } from './store/pool.ts';

export interface BridgeOptions {
  channels: ChannelsConfig;
  /** The bridge's PostgreSQL (its own `hl7` schema; by default the server's database). */
  databaseUrl: string;
  /** Signed in as the bridge's client: runs the hl7-inbound bot. Its base URL also verifies API tokens. */
  medplum: MedplumClient;
  logger: Logger;
  /** Conversion workers in this process (0: store and ACK only, e.g. a listener-only instance). */
  conversionWorkers?: number;
  /** The bridge's own profile (e.g. ClientApplication/…), allowed on its API. */
  ownProfile?: string;
}

export interface RunningBridge {
  channels: InboundChannel[];
  /** Listening port of each inbound channel, by name. */
  ports: Record<string, number>;
  /** The HTTP API's base URL, e.g. http://127.0.0.1:8105/ */
  apiUrl: string;
  store: MessageStore;
  outboundStore: OutboundStore;
  metrics: Metrics;
  workers: ConversionWorkers;
  senders: DestinationSender[];
  close(): Promise<void>;
}

/**
 * Starts the HL7 bridge: migrates its store, opens the inbound channels, starts the conversion
 * workers, the outbound senders and the HTTP API. `close()` stops taking messages first, then
 * lets the work in progress finish.
 */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const { channels: config, logger } = options;
  const workerCount = options.conversionWorkers ?? config.conversion.workers;
  await migrateStore(options.databaseUrl);
  const pool = createStorePool(options.databaseUrl, 4 + workerCount + config.destinations.length);
  const store = new MessageStore(pool);
  const outboundStore = new OutboundStore(pool);
  const metrics = new Metrics();
  const converter = new BotConverter(options.medplum, config.conversion.botIdentifier);
  const workers = new ConversionWorkers({
    store,
    converter,
    metrics,
    logger,
    workers: workerCount,
    batchSize: config.conversion.batchSize,
    leaseMs: config.conversion.leaseMs,
  });
  const senders = config.destinations
    .filter((d) => d.enabled)
    .map((destination) => new DestinationSender({ destination, store: outboundStore, metrics, logger }));
  const outbound = new OutboundQueue(config.destinations, outboundStore, metrics, (name) => senders.find((s) => s.name === name)?.wake());
  const channels = config.inbound.map(
    (c) => new InboundChannel({ config: c, identity: config.identity, store, metrics, logger, converter, onStored: () => workers.wake() }),
  );
  const ports: Record<string, number> = {};
  let api: { fastify: FastifyInstance; url: string } | undefined;
  try {
    for (const c of channels) ports[c.config.name] = await c.start();
    api = await startApi(
      {
        auth: new ApiAuth({
          serverUrl: options.medplum.getBaseUrl(),
          allowedProfiles: config.api.allowedProfiles,
          ownProfile: options.ownProfile,
        }),
        store,
        outboundStore,
        outbound,
        metrics,
        logger,
        onReplay: () => workers.wake(),
        stats: () => ({
          channels: Object.fromEntries(channels.map((c) => [c.config.name, { port: c.listeningPort, ...c.stats }])),
        }),
      },
      config.api.port,
      config.api.host,
    );
    workers.start();
    for (const s of senders) s.start();
  } catch (err) {
    await Promise.allSettled(channels.map((c) => c.close()));
    await api?.fastify.close();
    await pool.end();
    throw err;
  }
  let closed = false;
  const running = api;
  return {
    channels,
    ports,
    apiUrl: running.url,
    store,
    outboundStore,
    metrics,
    workers,
    senders,
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled(channels.map((c) => c.close()));
      await running.fastify.close();
      await store.close();
      await workers.stop();
      await Promise.allSettled(senders.map((s) => s.stop()));
      await pool.end();
    },
  };
}
