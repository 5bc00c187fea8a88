/**
 * Whether Redis still holds a push's job. A push held by a hand-off job (push-ledger.ts) is
 * `live` while that job waits, runs or is retried, and `lost` once it is gone or failed for
 * good with the push still in it. Otherwise it is its own job, by its id (the idempotency key):
 *
 * - `live`: the job has its data and is in one of BullMQ's states — waiting, delayed,
 *   prioritized, active, or failed / completed as BullMQ records those (with the reason or
 *   the finishing time). Whatever it is doing — waiting for a worker, retrying through a
 *   long Singer outage, running, failed and awaiting the stalled sweep — it is BullMQ's,
 *   and the reconciler leaves it alone, however old.
 * - `lost`: anything else. No hash at all (FLUSHALL, a Redis restarted empty, a failover
 *   that lost the last writes, an evicted job), or what eviction leaves when it takes some
 *   of a job's keys and not others: a hash without data, an id in no state, an id left in
 *   the failed or completed set by a job that never failed or completed. Nothing in Redis
 *   will ever send it.
 *
 * Two passes over the queue's connection, each sent at once (ioredis writes concurrent
 * commands back to back): HSTRLEN of the data field and HMGET of failedReason and
 * finishedOn for every key, then BullMQ's state script for those that have data.
 */
import type { Redis } from 'ioredis';
import type { PushLedger } from '../delivery/push-ledger.js';
import type { DeliveryQueue } from '../delivery/queues.js';

export type JobPresence = 'live' | 'lost';

export async function jobPresence(
  deliveries: DeliveryQueue,
  ledger: PushLedger,
  keys: readonly string[],
): Promise<Map<string, JobPresence>> {
  const holders = await ledger.holders(keys);
  const inHandOffs = new Map<string, string>();
  keys.forEach((key, i) => {
    const holder = holders[i];
    if (holder !== undefined && holder !== key) inHandOffs.set(key, holder);
  });
  const [own, handOffs] = await Promise.all([
    ownJobPresence(
      deliveries,
      keys.filter((key) => !inHandOffs.has(key)),
    ),
    handOffPresence(deliveries, [...new Set(inHandOffs.values())]),
  ]);
  for (const [key, holder] of inHandOffs) own.set(key, handOffs.get(holder) ?? 'lost');
  return own;
}

/** A hand-off job is live while BullMQ may still run it. */
async function handOffPresence(
  deliveries: DeliveryQueue,
  ids: readonly string[],
): Promise<Map<string, JobPresence>> {
  const states = await Promise.all(ids.map((id) => deliveries.getJobState(id)));
  return new Map(
    ids.map((id, i) => [
      id,
      ['waiting', 'active', 'delayed', 'prioritized'].includes(states[i] ?? '') ? 'live' : 'lost',
    ]),
  );
}

async function ownJobPresence(
  deliveries: DeliveryQueue,
  keys: readonly string[],
): Promise<Map<string, JobPresence>> {
  // The queue's own connection (BullMQ types it abstractly; it is the ioredis one).
  const redis = (await deliveries.client) as unknown as Redis;
  const [dataLengths, finished] = await Promise.all([
    Promise.all(keys.map((key) => redis.hstrlen(deliveries.toKey(key), 'data'))),
    Promise.all(
      keys.map((key) => redis.hmget(deliveries.toKey(key), 'failedReason', 'finishedOn')),
    ),
  ]);
  const states = await Promise.all(
    keys.map((key, i) => ((dataLengths[i] ?? 0) > 0 ? deliveries.getJobState(key) : 'unknown')),
  );
  const presence = new Map<string, JobPresence>();
  keys.forEach((key, i) => {
    const [failedReason, finishedOn] = finished[i] ?? [];
    const state = states[i];
    const live =
      state === 'failed'
        ? failedReason !== null
        : state === 'completed'
          ? finishedOn !== null
          : state !== 'unknown';
    presence.set(key, live ? 'live' : 'lost');
  });
  return presence;
}
