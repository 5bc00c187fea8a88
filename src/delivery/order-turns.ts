/**
 * Per-order ordering (SPEC §7): pushes for one order reach Singer in the order of the
 * order's events. Each order with pushes in flight has a sorted set in Redis, scored by
 * event id, holding the keys of its undelivered pushes. The poller adds a push to its
 * order's set before enqueueing it; a worker delivers a push only when it is first in
 * its set, and removes it once it is delivered or dead-lettered. A push that is not yet
 * first waits (the job is delayed, without spending an attempt), so a later push waits
 * while an earlier one is being retried, and other orders are never held up.
 */
import type { RedisClient } from '../redis/redis-connection.js';
import type { PushJob } from '../scenarios/types.js';

/**
 * Under the queue prefix, so that on a Redis Cluster the turns share the queues' hash tag
 * (`{push}:order-turns:42` lives in the slot of `{push}:deliveries:…`) and one pipeline may
 * carry turns and jobs to the same node.
 */
export function orderTurnKey(prefix: string, orderId: string): string {
  return `${prefix}:order-turns:${orderId}`;
}

/** Queues the pushes' turns, in event order. Idempotent: a re-enqueue keeps the score. */
export async function addTurns(
  redis: RedisClient,
  prefix: string,
  pushes: PushJob[],
): Promise<void> {
  if (pushes.length === 0) return;
  const pipeline = redis.pipeline();
  for (const push of pushes) {
    pipeline.zadd(
      orderTurnKey(prefix, push.event.orderId),
      push.event.eventId,
      push.idempotencyKey,
    );
  }
  const results = await pipeline.exec();
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

/** The key of the push whose turn it is for this order, or undefined when none waits. */
export async function currentTurn(
  redis: RedisClient,
  prefix: string,
  orderId: string,
): Promise<string | undefined> {
  const [first] = await redis.zrange(orderTurnKey(prefix, orderId), 0, 0);
  return first;
}

/** Ends a push's turn (delivered or dead-lettered), letting the next push of its order go. */
export async function endTurn(redis: RedisClient, prefix: string, push: PushJob): Promise<void> {
  await redis.zrem(orderTurnKey(prefix, push.event.orderId), push.idempotencyKey);
}

/** Ends a turn by key, for a turn left behind by a push that no longer exists. */
export async function dropTurn(
  redis: RedisClient,
  prefix: string,
  orderId: string,
  key: string,
): Promise<void> {
  await redis.zrem(orderTurnKey(prefix, orderId), key);
}
