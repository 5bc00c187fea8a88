/**
 * Hands pushes to BullMQ: each push's turn in its order (so a worker never delivers a
 * later push while an earlier one is not even queued yet), and all jobs in one `addBulk`
 * (atomic). Job ids are the pushes' idempotency keys: enqueueing the same event again
 * adds nothing.
 *
 * Both go out in one turn of the event loop on the queue's own connection, turns first:
 * Redis applies commands of one connection in the order they were written, so the turns
 * exist before any job does, and the hand-off costs one round trip instead of two.
 */
import type { RedisClient } from '../redis/redis-connection.js';
import type { PushJob } from '../scenarios/types.js';
import { addTurns } from './order-turns.js';
import type { DeliveryQueue } from './queues.js';

export async function enqueuePushes(
  prefix: string,
  queue: DeliveryQueue,
  pushes: PushJob[],
  { first = false }: { first?: boolean } = {},
): Promise<void> {
  if (pushes.length === 0) return;
  // BullMQ types its client abstractly; it is the ioredis connection the queue was opened
  // with (queues.ts), shared, not a copy.
  const connection = (await queue.client) as unknown as RedisClient;
  // `first`: ahead of everything waiting (BullMQ's lifo), the first push taken first — for
  // pushes that are late already, and that their orders' later pushes wait for.
  const jobs = pushes.map((push) => ({
    name: push.scenario,
    data: push,
    opts: { jobId: push.idempotencyKey, ...(first ? { lifo: true } : {}) },
  }));
  await Promise.all([
    addTurns(connection, prefix, pushes),
    queue.addBulk(first ? jobs.reverse() : jobs),
  ]);
}
