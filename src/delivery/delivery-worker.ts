/**
 * The BullMQ worker: waits for its order's turn, renders the push, sends it to Singer and
 * decides what a failure means. Transient failures are thrown back to BullMQ, which
 * retries with `retryDelayMs`; permanent ones (and the last attempt) go to the
 * dead-letter queue with their reason, and the order's next push may go. Either way the
 * push's outcome is committed to MySQL (outcome-recorder.ts) before the job completes.
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/redis-connection.js';
import type { RedisSettings } from '../redis/redis-settings.js';
import type { PushRenderer } from '../render/render-push.js';
import { RenderError } from '../render/render-error.js';
import type { PushJob, SingerRequest } from '../scenarios/types.js';
import type { SingerClient } from '../singer/singer-client.js';
import { SingerPermanentError } from '../singer/singer-errors.js';
import { retryDelayMs, type BackoffSettings } from './backoff.js';
import type { OutcomeRecorder } from '../outcomes/outcome-recorder.js';
import { addDeadLetterView, deadLetterPush } from './dead-letter.js';
import type { NurseLookup } from './nurse-lookup.js';
import { operationsRecord } from './operations-record.js';
import { parsePushJob } from './parse-push-job.js';
import { currentTurn, dropTurn, endTurn } from './order-turns.js';
import { deadLetterStalledJob, deadLetterStalledJobs, diedStalled } from './stalled-jobs.js';
import { brakeOnErrors, type WorkerBrake } from './worker-error-brake.js';
import {
  BACKOFF_TYPE,
  DELIVERY_QUEUE,
  type DeadLetterQueue,
  type DeliveryQueue,
} from './queues.js';

/** What happened to one attempt; metrics and the delivery trace listen to these. */
export interface AttemptOutcome {
  push: PushJob;
  attempt: number;
  outcome: 'delivered' | 'retry' | 'dead';
  singerStatus?: number;
  error?: string;
  durationMs?: number;
}

export interface DeliveryWorkerDeps {
  /** BullMQ's connection. */
  redis: RedisClient;
  /** Where that connection goes, for explaining its errors. */
  redisSettings: RedisSettings;
  /**
   * For the order turns (a read before and a write after each push); default `redis`.
   * An auto-pipelined connection carries the turns of all concurrent deliveries in a
   * few writes instead of two round trips each (docs/BENCHMARKS.md).
   */
  turns?: RedisClient;
  prefix: string;
  deliveries: DeliveryQueue;
  deadLetters: DeadLetterQueue;
  /** Where delivered and dead-lettered pushes are recorded, before their jobs complete. */
  outcomes: OutcomeRecorder;
  renderer: PushRenderer;
  singer: SingerClient;
  nurses: NurseLookup;
  logger: Logger;
  onAttempt?: (outcome: AttemptOutcome) => void;
  /** Test hook for the crash matrix: called once Singer has answered 2xx. */
  checkpoint?: (point: 'delivered') => void;
  /** Runs each delivery: the liveness watch counts it in flight (http/liveness.ts). */
  track?: <T>(delivery: () => Promise<T>) => Promise<T>;
}

export interface DeliveryWorkerSettings {
  concurrency: number;
  orderWaitMs: number;
  backoff: BackoffSettings;
  /** How long a job's lock lasts without renewal: a killed worker's jobs return after it. */
  lockDurationMs?: number;
  /** A job whose worker died this many times is dead-lettered instead of retried again. */
  maxStalledCount?: number;
}

export interface DeliveryWorker {
  worker: Worker<PushJob>;
  /** Holds fetching back while Redis refuses commands; says why. */
  brake: WorkerBrake;
}

/** The dependencies with the turns connection settled once. */
type WorkerDeps = DeliveryWorkerDeps & { turns: RedisClient };

export function startDeliveryWorker(
  given: DeliveryWorkerDeps,
  settings: DeliveryWorkerSettings,
): DeliveryWorker {
  const deps: WorkerDeps = { ...given, turns: given.turns ?? given.redis };
  const track = deps.track ?? (<T>(delivery: () => Promise<T>) => delivery());
  const worker = new Worker<PushJob>(
    DELIVERY_QUEUE,
    (job, token) => track(() => deliver(job, token, deps, settings)),
    {
      connection: deps.redis,
      prefix: deps.prefix,
      concurrency: settings.concurrency,
      lockDuration: settings.lockDurationMs ?? 30_000,
      stalledInterval: settings.lockDurationMs ?? 30_000,
      maxStalledCount: settings.maxStalledCount ?? 5,
      settings: {
        backoffStrategy: (attemptsMade, type, err) =>
          type === BACKOFF_TYPE ? retryDelayMs(attemptsMade, err, settings.backoff) : 0,
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
  worker.on('closing', () => brake.stop());
  return { worker, brake };
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
  if (!(await isMyTurn(push, deps))) {
    // Not spending an attempt: the job just comes back after a short wait.
    await job.moveToDelayed(Date.now() + settings.orderWaitMs, token);
    throw new DelayedError();
  }

  const attempt = job.attemptsMade + 1;
  const attempts = job.opts.attempts ?? 1;
  const context = `event ${push.event.eventId}, order ${push.event.orderId}, ${push.scenario}, attempt ${attempt} of ${attempts}`;

  let request: SingerRequest | undefined;
  try {
    const nurse =
      deps.renderer.needsNurse(push.scenario) && push.event.nurseId
        ? await deps.nurses.find(push.event.nurseId)
        : undefined;
    request = deps.renderer.render(push, nurse);
    const { status, durationMs } = await deps.singer.send(request);
    deps.checkpoint?.('delivered');
    // Committed before anything in Redis says this push is done.
    await deps.outcomes.record({
      push,
      outcome: 'delivered',
      attempts: attempt,
      singerStatus: status,
    });
    await endTurn(deps.turns, deps.prefix, push);
    deps.onAttempt?.({ push, attempt, outcome: 'delivered', singerStatus: status, durationMs });
    // Built only when it will be written (LOG_LEVEL=warn skips it): a few µs per push.
    if (deps.logger.isLevelEnabled('info')) {
      deps.logger.info(operationsRecord(push, request, attempt, new Date()), 'push delivered');
    }
    return { singerStatus: status };
  } catch (err) {
    const singerStatus = (err as { status?: number }).status;
    const message = (err as Error).message;
    const permanent = err instanceof RenderError || err instanceof SingerPermanentError;
    if (!permanent && attempt < attempts) {
      // Singer unavailable, or MySQL down while looking up the nurse: BullMQ retries.
      deps.onAttempt?.({ push, attempt, outcome: 'retry', singerStatus, error: message });
      deps.logger.warn(
        { key: push.idempotencyKey, singerStatus },
        `${context}: ${message}; will retry`,
      );
      throw err;
    }
    const why =
      err instanceof RenderError
        ? 'cannot render the push'
        : err instanceof SingerPermanentError
          ? 'Singer refused it'
          : 'out of attempts';
    await giveUp(push, deps, attempt, `${why}: ${message}`, err);
    throw new UnrecoverableError(`${context}: ${why}: ${message}`);
  }
}

async function isMyTurn(push: PushJob, deps: WorkerDeps): Promise<boolean> {
  const { orderId } = push.event;
  for (;;) {
    const first = await currentTurn(deps.turns, deps.prefix, orderId);
    // No turn recorded (a job enqueued by an older version, or already ended): go.
    if (first === undefined || first === push.idempotencyKey) return true;
    // A turn whose push no longer waits anywhere (its job expired or was removed by hand)
    // must not hold the order up forever.
    const state = await deps.deliveries.getJobState(first);
    if (state !== 'unknown' && state !== 'completed' && state !== 'failed') return false;
    await dropTurn(deps.turns, deps.prefix, orderId, first);
  }
}

async function giveUp(
  push: PushJob,
  deps: WorkerDeps,
  attempt: number,
  reason: string,
  err?: unknown,
): Promise<void> {
  const singerStatus = (err as { status?: number } | undefined)?.status;
  await deadLetterPush(deps, push, {
    reason,
    attempts: attempt,
    singerStatus,
    singerBody: (err as { body?: string } | undefined)?.body,
  });
  deps.onAttempt?.({ push, attempt, outcome: 'dead', singerStatus, error: reason });
  deps.logger.error(
    {
      key: push.idempotencyKey,
      eventId: push.event.eventId,
      orderId: push.event.orderId,
      singerStatus,
    },
    `push dead-lettered: ${reason}`,
  );
}
