/**
 * Hands pushes to BullMQ, in one of two shapes:
 *
 * - `handOffPushes` (the poller): every push of a claimed batch in one hand-off job, which a
 *   worker takes whole and whose pushes it sends at once, each order's in event order
 *   (deliver-hand-off.ts). Two Redis scripts per batch instead of two per push: the first
 *   attempt of every push costs Redis next to nothing, which is what most pushes ever need.
 * - `enqueuePushes`: a job per push, id = its idempotency key — the pushes that need a job
 *   of their own: a retry, a push waiting for its order's turn, a restored or replayed one.
 *
 * Either way the ledger (push-ledger.ts) records them in flight before any job exists.
 */
import type { JobsOptions } from 'bullmq';
import type { PushJob } from '../scenarios/types.js';
import type { PushLedger } from './push-ledger.js';
import { HAND_OFF_JOB, handOffJobOptions, type DeliveryQueue } from './queues.js';

/** A hand-off job's id: its first and last event and its size, so a repeat is dropped. */
export function handOffJobId(pushes: readonly PushJob[]): string {
  const first = pushes[0]?.event.eventId;
  const last = pushes.at(-1)?.event.eventId;
  return `hand-off-${first}-${last}-${pushes.length}`;
}

export async function handOffPushes(
  ledger: PushLedger,
  queue: DeliveryQueue,
  pushes: PushJob[],
  held?: () => void,
): Promise<void> {
  if (pushes.length === 0) return;
  const jobId = handOffJobId(pushes);
  // The ledger first, then the job, each awaited: sent together on one connection they would
  // still reach Redis out of order whenever the ledger's script is not loaded yet (a new
  // connection, a Redis restarted or failed over): ioredis re-sends it after NOSCRIPT, by
  // which time a worker may have taken the job and found none of its pushes in line.
  await ledger.holdForHandOff(pushes, jobId);
  held?.();
  await queue.add(HAND_OFF_JOB, { pushes }, { ...handOffJobOptions, jobId });
}

/** A push to give a job of its own, and how that job starts. */
export interface OwnJob {
  push: PushJob;
  /** Attempts the push has made already (in its hand-off job); counted against its limit. */
  priorAttempts?: number;
  /** Before its (next) attempt: a retry's back-off, or a wait for its order's turn. */
  delayMs?: number;
}

export interface OwnJobOptions {
  /**
   * Ahead of everything waiting (BullMQ's lifo), the first push taken first: for pushes that
   * are late already, and that their orders' later pushes wait for.
   */
  first?: boolean;
  /**
   * The hand-off job that holds them: only what it still holds gets a job (push-ledger.ts,
   * handOver). Without it, the pushes are held by their own jobs whoever held them.
   */
  from?: string;
  /** Called once the ledger has handed them over (`from`), before their jobs exist. */
  handedOver?: () => void;
}

export async function enqueuePushes(
  ledger: PushLedger,
  queue: DeliveryQueue,
  given: OwnJob[],
  { first = false, from, handedOver }: OwnJobOptions = {},
): Promise<void> {
  let own = given;
  if (from !== undefined && own.length > 0) {
    const kept = new Set(
      await ledger.handOver(
        own.map(({ push }) => push),
        from,
      ),
    );
    own = own.filter(({ push }) => kept.has(push));
    if (own.length > 0) handedOver?.();
  }
  if (own.length === 0) return;
  const limit = queue.defaultJobOptions.attempts;
  const jobs = own.map(({ push, priorAttempts = 0, delayMs }) => {
    const opts: JobsOptions = { jobId: push.idempotencyKey };
    if (first) opts.lifo = true;
    if (delayMs) opts.delay = delayMs;
    if (priorAttempts > 0 && limit) opts.attempts = Math.max(limit - priorAttempts, 1);
    return {
      name: push.scenario,
      data: priorAttempts > 0 ? { ...push, priorAttempts } : push,
      opts,
    };
  });
  // The holders first, and then the jobs (see handOffPushes).
  if (from === undefined) await ledger.holdInOwnJobs(own.map(({ push }) => push));
  await queue.addBulk(first ? jobs.reverse() : jobs);
}
