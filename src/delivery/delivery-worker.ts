/**
 * The BullMQ worker. It runs two kinds of job (queues.ts): hand-off jobs, each a claimed
 * batch's first attempts (deliver-hand-off.ts), and push jobs, one push each — retries, and
 * pushes waiting for their order's turn. A push job waits for its turn, makes its attempt
 * (attempt-push.ts) and tells BullMQ what it means: transient failures are thrown back to
 * BullMQ, which retries with `retryDelayMs`; permanent ones (and the last attempt) are
 * dead-lettered with their reason, and the order's next push may go. Either way the push's
 * outcome is committed to MySQL before the job completes.
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../redis/redis-connection.js';
import type { RedisSettings } from '../redis/redis-settings.js';
import { attemptPush, type AttemptDeps } from './attempt-push.js';
import { retryDelayMs, type BackoffSettings } from './backoff.js';
import { addDeadLetterView } from './dead-letter.js';
import { deliverHandOff, type HandOffDeps, type HandOffSummary } from './deliver-hand-off.js';
import { lanes } from './lanes.js';
import { parsePushJob } from './parse-push-job.js';
import { deadLetterStalledJob, deadLetterStalledJobs, diedStalled } from './stalled-jobs.js';
import { brakeOnErrors, type WorkerBrake } from './worker-error-brake.js';
import {
  BACKOFF_TYPE,
  DELIVERY_QUEUE,
  HAND_OFF_JOB,
  type DeliveryJobData,
  type DeliveryQueue,
  type HandOff,
} from './queues.js';
import type { PushJob } from '../scenarios/types.js';

export type { AttemptOutcome } from './attempt-push.js';

export interface DeliveryWorkerDeps extends Omit<AttemptDeps, 'lanes'> {
  /** BullMQ's connection. */
  redis: RedisClient;
  /** Where that connection goes, for explaining its errors. */
  redisSettings: RedisSettings;
  prefix: string;
  deliveries: DeliveryQueue;
}

export interface DeliveryWorkerSettings {
  /** Jobs run at once, and pushes sent at once, by this process (WORKER_CONCURRENCY). */
  concurrency: number;
  /** DELIVERY_ATTEMPTS. */
  deliveryAttempts: number;
  orderWaitMs: number;
  backoff: BackoffSettings;
  /** How long a job's lock lasts without renewal: a killed worker's jobs return after it. */
  lockDurationMs?: number;
  /** A job whose worker died this many times is dead-lettered instead of retried again. */
  maxStalledCount?: number;
}

export interface DeliveryWorker {
  worker: Worker<DeliveryJobData>;
  /** Holds fetching back while Redis refuses commands; says why. */
  brake: WorkerBrake;
}

/** What the worker's jobs use: the given dependencies, its lanes, and whether it is closing. */
type WorkerDeps = DeliveryWorkerDeps & HandOffDeps;

export function startDeliveryWorker(
  given: DeliveryWorkerDeps,
  settings: DeliveryWorkerSettings,
): DeliveryWorker {
  let closing = false;
  const deps: WorkerDeps = {
    ...given,
    lanes: lanes(settings.concurrency),
    closing: () => closing,
  };
  const worker = new Worker<DeliveryJobData>(
    DELIVERY_QUEUE,
    (job, token): Promise<HandOffSummary | { singerStatus: number }> =>
      job.name === HAND_OFF_JOB
        ? deliverHandOff(job as Job<HandOff>, deps, settings)
        : deliver(job as Job<PushJob>, token, deps, settings),
    {
      connection: deps.redis,
      prefix: deps.prefix,
      concurrency: settings.concurrency,
      lockDuration: settings.lockDurationMs ?? 30_000,
      stalledInterval: settings.lockDurationMs ?? 30_000,
      maxStalledCount: settings.maxStalledCount ?? 5,
      settings: {
        backoffStrategy: (attemptsMade, type, err, job) =>
          type === BACKOFF_TYPE
            ? retryDelayMs(attemptsMade + priorAttemptsOf(job?.data), err, settings.backoff)
            : 0,
      },
    },
  );
  // BullMQ fails a job itself, without calling us, when its workers kept dying on it.
  worker.on('failed', (job, err) => {
    if (job && diedStalled(err.message)) {
      void deadLetterStalledJob(deps, job).catch((e) =>
        deps.logger.error({ err: e, key: job.id }, 'could not dead-letter a stalled push'),
      );
    }
  });
  // And any such job whose dead-lettering died with the process that saw it fail.
  void deadLetterStalledJobs(deps).then(
    (count) => {
      if (count > 0) deps.logger.warn({ count }, 'dead-lettered pushes whose workers kept dying');
    },
    (err) => deps.logger.error({ err }, 'could not look for stalled pushes to dead-letter'),
  );
  const brake = brakeOnErrors(worker, { logger: deps.logger, redis: deps.redisSettings });
  worker.on('closing', () => {
    closing = true;
    brake.stop();
  });
  return { worker, brake };
}

/** Attempts a hand-off job spent on a push before it got a job of its own. */
function priorAttemptsOf(data: unknown): number {
  return (data as Partial<PushJob> | undefined)?.priorAttempts ?? 0;
}

async function deliver(
  job: Job<PushJob>,
  token: string | undefined,
  deps: WorkerDeps,
  settings: DeliveryWorkerSettings,
): Promise<{ singerStatus: number }> {
  if (job.name === undefined && Object.keys(job.data ?? {}).length === 0) {
    // Redis kept the job's id but not its hash (evicted): there is nothing to send. If the
    // push is ours, MySQL still owes it, and the reconciler hands it to BullMQ again.
    deps.logger.warn({ jobId: job.id }, 'a job lost its data in Redis; left to the reconciler');
    throw new UnrecoverableError(`job ${job.id}: its data is gone from Redis`);
  }
  let push: PushJob;
  try {
    push = parsePushJob(job.data);
  } catch (err) {
    // Not a push our poller made (no outcome is owed for it), so only the dashboard's view
    // keeps it, as it came, for whoever inspects it; it has no order turn to end.
    const reason = (err as Error).message;
    const deadAt = new Date().toISOString();
    const attempts = job.attemptsMade + 1;
    await addDeadLetterView(
      deps.deadLetters,
      { push: job.data, reason, attempts, deadAt },
      String(job.id),
    );
    deps.logger.error({ jobId: job.id }, `push dead-lettered: ${reason}`);
    throw new UnrecoverableError(`job ${job.id}: ${reason}`);
  }
  const turn = await myTurn(push, String(job.id), deps);
  if (turn === 'settled') {
    deps.logger.info({ key: push.idempotencyKey }, 'push settled already; not sent again');
    return { singerStatus: 0 };
  }
  if (turn === 'wait') {
    // Not spending an attempt: the job just comes back after a short wait.
    await job.moveToDelayed(Date.now() + settings.orderWaitMs, token);
    throw new DelayedError();
  }

  const prior = priorAttemptsOf(push);
  const result = await attemptPush(
    push,
    prior + job.attemptsMade + 1,
    prior + (job.opts.attempts ?? 1),
    deps,
  );
  if (result.outcome === 'delivered') return { singerStatus: result.singerStatus };
  if (result.outcome === 'retry') throw result.error;
  if (result.outcome === 'dead') throw new UnrecoverableError(result.reason);
  throw new Error('not attempted: the worker is shutting down'); // never: it may always start
}

/** Whether the push may go now, must wait for an earlier push of its order, or is done. */
async function myTurn(
  push: PushJob,
  jobId: string,
  deps: WorkerDeps,
): Promise<'go' | 'wait' | 'settled'> {
  const { orderId } = push.event;
  for (;;) {
    const first = await deps.ledger.currentTurn(orderId);
    if (first === push.idempotencyKey) return 'go';
    if (first === undefined) {
      if ((await deps.ledger.settledLately([push.idempotencyKey]))[0]) return 'settled';
      // Redis lost its turn. With everything else (FLUSHALL, a restart without persistence),
      // this job is gone too, and so may be the order's earlier pushes: nothing is sent, and
      // the reconciler restores them all, in order. If its job is still there (a job added by
      // hand, an evicted turn), it gets back in line, at its event's place.
      if ((await deps.deliveries.getJobState(jobId)) === 'unknown') {
        throw new UnrecoverableError(`job ${jobId}: Redis lost it; left to the reconciler`);
      }
      await deps.ledger.holdInOwnJobs([push]);
      return 'wait';
    }
    const leftBy = await turnLeftBehind(first, deps);
    if (leftBy === false) return 'wait';
    // Only if that holder still holds it: read apart, it may have handed the push on since.
    await deps.ledger.dropTurn(orderId, first, leftBy);
  }
}

/**
 * Whether (and by which holder) the turn ahead was left to a push nothing will settle, so it
 * must not hold its order up forever: its job finished without ending it (removed by hand, or
 * a worker died between), or, with no holder recorded (an older version's), its job is gone.
 * A push whose holder is recorded but whose job Redis does not have is waited for: it is being
 * added right now (holders go first), its adding failed and the next hand-off of its rows or
 * the retry of its hand-off takes it up (push-ledger.ts), or Redis lost it and the reconciler
 * restores it, in order.
 */
async function turnLeftBehind(
  key: string,
  deps: WorkerDeps,
): Promise<false | { holder: string | undefined }> {
  const [holder] = await deps.ledger.holders([key]);
  const state = await deps.deliveries.getJobState(holder ?? key);
  const left =
    state === 'completed' || state === 'failed' || (state === 'unknown' && holder === undefined);
  return left && { holder };
}
