/**
 * Hands pushes to BullMQ: first each push's turn in its order (so a worker never
 * delivers a later push while an earlier one is not even queued yet), then all jobs in
 * one `addBulk` (one Redis round trip, atomic). Job ids are the pushes' idempotency keys:
 * enqueueing the same event again adds nothing.
 */
import type { Redis } from 'ioredis';
import type { PushJob } from '../scenarios/types.js';
import { addTurns } from './order-turns.js';
import type { DeliveryQueue } from './queues.js';

export async function enqueuePushes(
  redis: Redis,
  prefix: string,
  queue: DeliveryQueue,
  pushes: PushJob[],
): Promise<void> {
  if (pushes.length === 0) return;
  await addTurns(redis, prefix, pushes);
  await queue.addBulk(
    pushes.map((push) => ({
      name: push.scenario,
      data: push,
      opts: { jobId: push.idempotencyKey },
    })),
  );
}
