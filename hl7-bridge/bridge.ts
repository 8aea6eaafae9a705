import type { MedplumClient } from '@medplum/core';
import type { Logger } from 'pino';
import type { ChannelsConfig } from './config.ts';
import { InboundChannel } from './inbound/channel.ts';
import { BotConverter } from './inbound/converter.ts';
import { ConversionWorkers } from './inbound/workers.ts';
import { Metrics } from './metrics.ts';
import { MessageStore } from './store/message-store.ts';
import { migrateStore } from './store/migrate.ts';
import { createStorePool } from './store/pool.ts';

export interface BridgeOptions {
  channels: ChannelsConfig;
  /** The bridge's PostgreSQL (its own `hl7` schema; by default the server's database). */
  databaseUrl: string;
  /** Signed in as the bridge's client: runs the hl7-inbound bot. */
  medplum: MedplumClient;
  logger: Logger;
  /** Conversion workers in this process (0: store and ACK only, e.g. a listener-only instance). */
  conversionWorkers?: number;
}

export interface RunningBridge {
  channels: InboundChannel[];
  /** Listening port of each inbound channel, by name. */
  ports: Record<string, number>;
  store: MessageStore;
  metrics: Metrics;
  workers: ConversionWorkers;
  close(): Promise<void>;
}

/**
 * Starts the HL7 bridge: migrates its store, opens the inbound channels and starts the
 * conversion workers. `close()` stops taking messages first, then lets work in progress finish.
 */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const { channels: config, logger } = options;
  await migrateStore(options.databaseUrl);
  const pool = createStorePool(options.databaseUrl, 4 + (options.conversionWorkers ?? config.conversion.workers));
  const store = new MessageStore(pool);
  const metrics = new Metrics();
  const converter = new BotConverter(options.medplum, config.conversion.botIdentifier);
  const workers = new ConversionWorkers({
    store,
    converter,
    metrics,
    logger,
    workers: options.conversionWorkers ?? config.conversion.workers,
    batchSize: config.conversion.batchSize,
    leaseMs: config.conversion.leaseMs,
  });
  const channels = config.inbound.map(
    (c) => new InboundChannel({ config: c, identity: config.identity, store, metrics, logger, converter, onStored: () => workers.wake() }),
  );
  const ports: Record<string, number> = {};
  try {
    for (const c of channels) ports[c.config.name] = await c.start();
    workers.start();
  } catch (err) {
    await Promise.allSettled(channels.map((c) => c.close()));
    await pool.end();
    throw err;
  }
  let closed = false;
  return {
    channels,
    ports,
    store,
    metrics,
    workers,
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled(channels.map((c) => c.close()));
      await store.close();
      await workers.stop();
      await pool.end();
    },
  };
}
