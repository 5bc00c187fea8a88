/**
 * The binlog peer's reader, in a process of its own: the design this product replaces
 * (the 2016 service listened to the binlog with Open Replicator). @vlasky/zongji streams
 * row events as a replica would (REPLICATION SLAVE / CLIENT); every `orders` row whose
 * status or status_reason changed becomes an OrderEvent, is matched by the same scenario
 * catalog, and its pushes go to the same BullMQ queue through the same handOffPushes
 * (one hand-off job per batch), then the binlog position is checkpointed in Redis. The product's own
 * worker (ROLES=worker) delivers them. Benchmark only: nothing in the product reads the binlog.
 *
 * Batching is as generous as the outbox poller's: whatever arrived while the previous
 * batch was being enqueued goes in the next one (up to 500), with no sleep in between.
 *
 * Forked by binlog-peer.ts with BENCH_PEER (JSON: BinlogPeerSettings) in its environment;
 * says {ready:true} over IPC once zongji is streaming, and stops when disconnected.
 */
import ZongJi, { type AnyBinlogEvent, type UpdateRowsEvent } from '@vlasky/zongji';
import { loadConfig } from '../src/config.js';
import { handOffPushes } from '../src/delivery/enqueue-pushes.js';
import { pushLedger } from '../src/delivery/push-ledger.js';
import { openDeliveryQueue } from '../src/delivery/queues.js';
import { connectRedis } from '../src/redis/redis-connection.js';
import { singleNodeRedis } from '../src/redis/redis-settings.js';
import { loadScenarioCatalog } from '../src/scenarios/catalog.js';
import { matchEvent } from '../src/scenarios/match-event.js';
import type { OrderEvent, PushJob } from '../src/scenarios/types.js';

export interface BinlogPeerSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  redisUrl: string;
  queuePrefix: string;
  /** Where to start reading; 'end' = from now on. */
  start: { filename: string; position: number } | 'end';
}

const BATCH = 500;
const settings = JSON.parse(process.env.BENCH_PEER ?? '') as BinlogPeerSettings;
const config = loadConfig({});
const catalog = loadScenarioCatalog(config.scenariosFile);
const redis = connectRedis(singleNodeRedis(settings.redisUrl), 'fail-fast');
const queue = openDeliveryQueue(redis, settings.queuePrefix, config);
const ledger = pushLedger(redis, { ...config, queuePrefix: settings.queuePrefix });

let buffer: PushJob[] = [];
let flushing: Promise<void> | undefined;
let fileSequence = settings.start === 'end' ? 0n : sequenceOf(settings.start.filename);
let checkpoint = '';

async function flushAll(): Promise<void> {
  while (buffer.length > 0) {
    const batch = buffer.slice(0, BATCH);
    buffer = buffer.slice(batch.length);
    await handOffPushes(ledger, queue, batch);
    await redis.set(`${settings.queuePrefix}:binlog-position`, checkpoint);
  }
}

function flush(): void {
  flushing ??= flushAll()
    .catch((err: unknown) => {
      console.error('binlog peer: could not enqueue', err);
      process.exit(1);
    })
    .finally(() => {
      flushing = undefined;
      if (buffer.length > 0) flush();
    });
}

function onRows(event: UpdateRowsEvent): void {
  const table = event.tableMap[event.tableId];
  if (!table || table.parentSchema !== settings.database || table.tableName !== 'orders') return;
  event.rows.forEach(({ before, after }, index) => {
    if (before.status === after.status && before.status_reason === after.status_reason) return;
    // Stable per row change and increasing in binlog order, as the outbox ids are.
    const eventId = (fileSequence * 2n ** 32n + BigInt(event.nextPosition)) * 1000n + BigInt(index);
    const orderEvent: OrderEvent = {
      eventId: String(eventId),
      orderId: String(after.id),
      patientId: after.patient_id == null ? null : String(after.patient_id),
      nurseId: after.nurse_id == null ? null : String(after.nurse_id),
      fromStatus: before.status == null ? null : String(before.status),
      toStatus: String(after.status ?? ''),
      fromReason: before.status_reason == null ? null : String(before.status_reason),
      toReason: after.status_reason == null ? null : String(after.status_reason),
      occurredAt: new Date(event.timestamp).toISOString(),
    };
    buffer.push(...matchEvent(orderEvent, catalog).pushes);
  });
  checkpoint = `${fileSequence}:${event.nextPosition}`;
  if (buffer.length > 0) flush();
}

function sequenceOf(filename: string): bigint {
  return BigInt(/\.(\d+)$/.exec(filename)?.[1] ?? '0');
}

const zongji = new ZongJi({
  host: settings.host,
  port: settings.port,
  user: settings.user,
  password: settings.password,
  supportBigNumbers: true,
  bigNumberStrings: true,
});
zongji.on('binlog', (event: AnyBinlogEvent) => {
  const name = event.getEventName();
  if (name === 'rotate') fileSequence = sequenceOf((event as { binlogName: string }).binlogName);
  else if (name === 'updaterows') onRows(event as UpdateRowsEvent);
});
zongji.on('error', (err: Error) => {
  console.error('binlog peer: zongji failed', err);
  process.exit(1);
});
zongji.on('ready', () => process.send?.({ ready: true }));
zongji.start({
  serverId: 1000 + (process.pid % 100_000),
  includeEvents: ['rotate', 'tablemap', 'updaterows'],
  includeSchema: { [settings.database]: ['orders'] },
  ...(settings.start === 'end'
    ? { startAtEnd: true }
    : { filename: settings.start.filename, position: settings.start.position }),
});

process.on('disconnect', () => {
  zongji.stop();
  void (async () => {
    await flushing;
    await queue.close();
    await redis.quit();
    process.exit(0);
  })();
});
