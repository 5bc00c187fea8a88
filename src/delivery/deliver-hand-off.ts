/**
 * A hand-off job: a claimed batch's pushes, each given its first attempt here. The job takes
 * its pushes in the ledger (push-ledger.ts: which are its to send, and which are their
 * order's turn), then sends them all at once through the process's lanes — each order's
 * pushes one after another, in event order, different orders side by side. A push that
 * needs more than one attempt leaves the job for a push job of its own, under its own
 * idempotency key: a transient failure (retried after the usual back-off, the attempt
 * counted), and, behind it or behind an earlier push of its order held elsewhere, a push
 * that must wait for its turn (no attempt spent). Those are what the dashboard shows as
 * delayed: the pushes that are retrying or waiting, not the ones going through.
 *
 * The job completes once each of its pushes is settled or has its own job. A worker shutting
 * down sends nothing more: what it has not started goes to jobs of their own, for the other
 * workers (or the next process) to send. Each push is sent only while the ledger still says
 * this job holds it: after Redis lost its data (FLUSHALL, an empty restart) a job still
 * running sends nothing more, and the reconciler restores the rest in order. If it fails
 * under that (Redis or MySQL gone, the worker shut down) it is retried, and the take skips
 * what was settled meanwhile, and hands on again what it had handed on to jobs Redis never
 * got.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { PushJob } from '../scenarios/types.js';
import { attemptPush, type AttemptDeps } from './attempt-push.js';
import { retryDelayMs, type BackoffSettings } from './backoff.js';
import { addDeadLetterView } from './dead-letter.js';
import { enqueuePushes, type OwnJob } from './enqueue-pushes.js';
import { parsePushJob } from './parse-push-job.js';
import type { DeliveryQueue, HandOff } from './queues.js';

export interface HandOffDeps extends AttemptDeps {
  deliveries: DeliveryQueue;
  /** The worker is shutting down: send nothing more, hand the rest on to other workers. */
  closing: () => boolean;
}

export interface HandOffSettings {
  /** DELIVERY_ATTEMPTS: the limit the first attempt counts against. */
  deliveryAttempts: number;
  orderWaitMs: number;
  backoff: BackoffSettings;
}

export interface HandOffSummary {
  delivered: number;
  deadLettered: number;
  /** Left for push jobs of their own: retrying, or waiting for their order's turn. */
  handedOn: number;
  /** Not this job's: settled already, or held by an earlier hand-off of the same events. */
  skipped: number;
  /** Not sent because Redis lost this job's hold on them (left to the reconciler). */
  abandoned: number;
}

export async function deliverHandOff(
  job: Job<HandOff>,
  deps: HandOffDeps,
  settings: HandOffSettings,
): Promise<HandOffSummary> {
  const holder = String(job.id);
  const pushes = await parsePushes(job, deps);
  const takes = await deps.ledger.take(pushes, holder);
  const summary: HandOffSummary = {
    delivered: 0,
    deadLettered: 0,
    handedOn: 0,
    skipped: 0,
    abandoned: 0,
  };
  const handedOn: OwnJob[] = [];
  const waitForTurn = (push: PushJob) =>
    handedOn.push({ push, priorAttempts: 0, delayMs: settings.orderWaitMs });

  const chains = new Map<string, PushJob[]>();
  pushes.forEach((push, i) => {
    const take = takes[i];
    if (take === 'go') {
      const chain = chains.get(push.event.orderId);
      if (chain) chain.push(push);
      else chains.set(push.event.orderId, [push]);
    } else if (take === 'wait' || take === 'orphaned') waitForTurn(push);
    else summary.skipped += 1;
  });

  // Every chain runs to its end before the job fails on one's error: a retry of the job must
  // not overlap sends still in flight from this run.
  const ran = await Promise.allSettled(
    [...chains.values()].map(async (chain) => {
      for (const [i, push] of chain.entries()) {
        let lost = false;
        const mayStart = async () => {
          if (deps.closing()) return false;
          lost = !(await deps.ledger.holds(push, holder));
          return !lost;
        };
        const result = await attemptPush(push, 1, settings.deliveryAttempts, deps, mayStart);
        if (result.outcome === 'delivered') summary.delivered += 1;
        else if (result.outcome === 'dead') summary.deadLettered += 1;
        else if (result.outcome === 'not-started') {
          // Redis lost its hold (the rest is owed in MySQL: the reconciler restores it, in
          // order), or the worker is closing (the rest goes to jobs of their own).
          if (lost) summary.abandoned += chain.length - i;
          else chain.slice(i).forEach(waitForTurn);
          return;
        } else {
          handedOn.push({
            push,
            priorAttempts: 1,
            delayMs: retryDelayMs(1, result.error, settings.backoff),
          });
          // The order's later pushes wait behind it, in jobs of their own.
          chain.slice(i + 1).forEach(waitForTurn);
          return;
        }
      }
    }),
  );
  const failed = ran.find((chain) => chain.status === 'rejected');
  if (failed) throw failed.reason;

  await enqueuePushes(deps.ledger, deps.deliveries, handedOn, {
    from: holder,
    handedOver: () => deps.checkpoint?.('handed-over'),
  });
  summary.handedOn = handedOn.length;
  return summary;
}

/**
 * Our poller's hand-offs always parse; anything else in one (written by hand, by an older
 * version) is dead-lettered as it came, without holding up the rest.
 */
async function parsePushes(job: Job<HandOff>, deps: HandOffDeps): Promise<PushJob[]> {
  const given: unknown = (job.data as Partial<HandOff> | undefined)?.pushes;
  const deadAt = new Date().toISOString();
  if (!Array.isArray(given)) {
    const reason = 'a hand-off job without a list of pushes';
    await addDeadLetterView(
      deps.deadLetters,
      { push: job.data, reason, attempts: job.attemptsMade + 1, deadAt },
      String(job.id),
    );
    throw new UnrecoverableError(`job ${job.id}: ${reason}`);
  }
  const pushes: PushJob[] = [];
  for (const [i, raw] of given.entries()) {
    try {
      pushes.push(parsePushJob(raw));
    } catch (err) {
      const reason = (err as Error).message;
      await addDeadLetterView(
        deps.deadLetters,
        { push: raw, reason, attempts: 1, deadAt },
        `${job.id}-${i}`,
      );
      deps.logger.error({ jobId: job.id, index: i }, `push dead-lettered: ${reason}`);
    }
  }
  return pushes;
}
