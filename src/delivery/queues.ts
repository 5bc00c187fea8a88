/**
 * The two BullMQ queues: `deliveries`, which holds hand-off jobs (one per claimed batch,
 * named `hand-off`: the first attempt of each of its pushes) and push jobs (one per push
 * that needs more, named after its scenario, id = the push's idempotency key), and
 * `dead-letters` (the dashboard's view of the pushes that will not be retried, with their
 * reason; MySQL keeps the dead letters themselves, dead-letter.ts).
 */
import { Queue, type DefaultJobOptions } from 'bullmq';
import type { RedisClient } from '../redis/redis-connection.js';
import type { PushJob } from '../scenarios/types.js';
import type { DeadLetterView } from './dead-letter.js';

export const DELIVERY_QUEUE = 'deliveries';
export const DEAD_LETTER_QUEUE = 'dead-letters';
export const BACKOFF_TYPE = 'singer';
/** The name of a hand-off job (no scenario is called that). */
export const HAND_OFF_JOB = 'hand-off';

/** A hand-off job's data: a claimed batch's pushes, in event order. */
export interface HandOff {
  pushes: PushJob[];
}

export interface DeliveryJobSettings {
  deliveryAttempts: number;
  completedJobRetentionS: number;
  failedJobRetentionS: number;
}

export function deliveryJobOptions(settings: DeliveryJobSettings): DefaultJobOptions {
  return {
    attempts: settings.deliveryAttempts,
    backoff: { type: BACKOFF_TYPE },
    // Completed jobs are kept long enough that any re-enqueue of the same event (a poller
    // that died between addBulk and its commit) still finds the job id and is dropped.
    removeOnComplete: { age: settings.completedJobRetentionS },
    removeOnFail: { age: settings.failedJobRetentionS },
    // BullMQ keeps one stack trace per failed attempt in the job: ≈ 560 B each, 8.4 KB
    // after 15 attempts of a Singer outage, six times the push itself (measured). The
    // last one says as much (failedReason names the attempt), and back-pressure's bound
    // on Redis memory counts jobs, so a job's size must stay bounded too.
    stackTraceLimit: 1,
  };
}

/**
 * A hand-off job is retried for as long as it takes: it fails only when Redis or MySQL
 * failed under it (its pushes' own failures become push jobs), and each retry sends only
 * what is still unsettled. Only the last hundred done are kept, for the dashboard: the
 * ledger, not the job, remembers which pushes were settled (push-ledger.ts), and a job of up
 * to POLL_BATCH_SIZE pushes is large to keep for long.
 */
export const handOffJobOptions = {
  attempts: Number.MAX_SAFE_INTEGER,
  backoff: { type: BACKOFF_TYPE },
  removeOnComplete: { count: 100 },
  stackTraceLimit: 1,
} satisfies DefaultJobOptions;

export type DeliveryJobData = PushJob | HandOff;
export type DeliveryQueue = Queue<DeliveryJobData, unknown, string>;
export type DeadLetterQueue = Queue<DeadLetterView, unknown, string>;

export function openDeliveryQueue(
  connection: RedisClient,
  prefix: string,
  settings: DeliveryJobSettings,
): DeliveryQueue {
  const queue = new Queue<DeliveryJobData, unknown, string>(DELIVERY_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: deliveryJobOptions(settings),
  });
  return quietly(queue);
}

/**
 * A queue relays its connection's errors as 'error' events, and BullMQ prints them with
 * console.error (the failed command's arguments and all, a password among them when AUTH
 * failed) when nobody listens. The failures reach the callers as failed commands; the
 * service also logs them, throttled (main.ts).
 */
function quietly<Q extends Queue>(queue: Q): Q {
  queue.on('error', () => {});
  return queue;
}

export function openDeadLetterQueue(connection: RedisClient, prefix: string): DeadLetterQueue {
  const queue = new Queue<DeadLetterView, unknown, string>(DEAD_LETTER_QUEUE, {
    connection,
    prefix,
    // Nothing consumes this queue: entries wait for `push dlq replay`.
    defaultJobOptions: { removeOnComplete: true, removeOnFail: false },
  });
  return quietly(queue);
}
