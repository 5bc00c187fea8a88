/**
 * Dead letters: pushes that will not be retried, with why. Each is a job in the
 * `dead-letters` queue whose id is the push's idempotency key, so `push dlq replay`
 * sends it again under the same key and Singer drops it if it had arrived after all.
 */
import type { Job } from 'bullmq';
import type { RedisClient } from '../redis/redis-connection.js';
import type { PushJob } from '../scenarios/types.js';
import { addTurns, endTurn } from './order-turns.js';
import type { DeadLetterQueue, DeliveryQueue } from './queues.js';

export interface DeadLetter {
  push: PushJob;
  reason: string;
  attempts: number;
  singerStatus?: number;
  singerBody?: string;
  /** ISO-8601 time it was dead-lettered. */
  deadAt: string;
}

export async function addDeadLetter(queue: DeadLetterQueue, letter: DeadLetter): Promise<void> {
  const key = letter.push?.idempotencyKey ?? `malformed-${Date.now()}`;
  // A push replayed and refused again replaces its earlier dead letter (same job id).
  const earlier = await queue.getJob(key);
  if (earlier) await earlier.remove();
  await queue.add(letter.push?.scenario ?? 'malformed', letter, { jobId: key });
}

/**
 * Dead-letters a delivery job and ends its order turn, so that order's next push may go.
 * A job whose data has no event (malformed) has no turn to end.
 */
export async function deadLetterJob(
  deps: { deadLetters: DeadLetterQueue; turns: RedisClient; prefix: string },
  job: Job<PushJob>,
  letter: Omit<DeadLetter, 'push' | 'deadAt'>,
): Promise<void> {
  await addDeadLetter(deps.deadLetters, {
    push: job.data,
    ...letter,
    deadAt: new Date().toISOString(),
  });
  if (job.data?.event?.orderId !== undefined) await endTurn(deps.turns, deps.prefix, job.data);
}

export async function listDeadLetters(queue: DeadLetterQueue): Promise<DeadLetter[]> {
  const jobs = await queue.getJobs(['waiting', 'paused', 'delayed', 'prioritized'], 0, -1, true);
  return jobs
    .filter((job) => job?.data)
    .map((job) => job.data)
    .sort((a, b) => Number(a.push?.event?.eventId ?? 0) - Number(b.push?.event?.eventId ?? 0));
}

export interface ReplayDeps {
  redis: RedisClient;
  prefix: string;
  deliveries: DeliveryQueue;
  deadLetters: DeadLetterQueue;
}

/**
 * Sends dead letters again with their original idempotency keys, fresh attempts and their
 * order's turn. Selects by event id (every push of that event), or all when `eventIds` is
 * 'all'. Returns the keys replayed.
 */
export async function replayDeadLetters(
  deps: ReplayDeps,
  eventIds: string[] | 'all',
): Promise<string[]> {
  const wanted = eventIds === 'all' ? undefined : new Set(eventIds.map(String));
  const letters = (await listDeadLetters(deps.deadLetters)).filter(
    // A malformed push (no event) cannot be replayed; `dlq list` shows it for inspection.
    (letter) => letter.push?.event && (!wanted || wanted.has(letter.push.event.eventId)),
  );
  const replayed: string[] = [];
  for (const letter of letters) {
    const key = letter.push.idempotencyKey;
    // The failed delivery job still holds the id; it must go before the id can be reused.
    const failed = await deps.deliveries.getJob(key);
    if (failed) await failed.remove();
    await addTurns(deps.redis, deps.prefix, [letter.push]);
    await deps.deliveries.add(letter.push.scenario, letter.push, { jobId: key });
    // Removed last: a crash before this line replays twice (same key), never loses it.
    const entry = await deps.deadLetters.getJob(key);
    if (entry && entry.data.deadAt === letter.deadAt) await entry.remove();
    replayed.push(key);
  }
  return replayed;
}
