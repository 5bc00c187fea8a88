/**
 * Pushes BullMQ gave up on by itself. When the workers holding a job keep dying
 * (maxStalledCount), BullMQ fails the job without calling the processor, so no attempt
 * of ours dead-letters it. The worker's 'failed' event does it at once; but if the process
 * that got that event dies too, only the failed set remembers the push. So every worker,
 * when it starts, also sweeps the failed set for such jobs that have no dead letter yet:
 * whatever the crash, such a push ends up in `push dlq list`, once.
 */
import type { Job } from 'bullmq';
import type { PushJob } from '../scenarios/types.js';
import { addDeadLetterView, deadLetterPush, type DeadLetterDeps } from './dead-letter.js';
import { parsePushJob } from './parse-push-job.js';
import { enqueuePushes } from './enqueue-pushes.js';
import { HAND_OFF_JOB, type DeliveryJobData, type DeliveryQueue, type HandOff } from './queues.js';

export interface StalledJobDeps extends DeadLetterDeps {
  deliveries: DeliveryQueue;
}

/** BullMQ's failedReason for a job whose workers died more than maxStalledCount times. */
export function diedStalled(reason: string | undefined): boolean {
  return /stalled more than allowable limit/.test(reason ?? '');
}

/**
 * Dead-letters one such job and ends its order turn, so its order's next push may go. A
 * hand-off job that kept killing its workers is not dead-lettered whole: each push it still
 * holds gets a job of its own (its first attempt not counted: it may never have been made),
 * so that only the push that kills workers ends up dead-lettered.
 */
export async function deadLetterStalledJob(
  deps: StalledJobDeps,
  job: Job<DeliveryJobData>,
): Promise<void> {
  if (job.name === HAND_OFF_JOB) return handOnStalledHandOff(deps, job as Job<HandOff>);
  await deadLetterStalledPush(deps, job as Job<PushJob>);
}

async function handOnStalledHandOff(deps: StalledJobDeps, job: Job<HandOff>): Promise<void> {
  const pushes = (job.data?.pushes ?? []).flatMap((raw) => {
    try {
      return [parsePushJob(raw)];
    } catch {
      return [];
    }
  });
  await enqueuePushes(
    deps.ledger,
    deps.deliveries,
    pushes.map((push) => ({ push })),
    { from: String(job.id) },
  );
  await job.remove();
}

async function deadLetterStalledPush(deps: StalledJobDeps, job: Job<PushJob>): Promise<void> {
  const letter = {
    reason: `worker died while delivering it: ${job.failedReason}`,
    attempts: job.attemptsMade,
  };
  let push: PushJob;
  try {
    push = parsePushJob(job.data);
  } catch {
    // Not a push of ours: nothing is owed for it, and it has no turn; shown as it came.
    const deadAt = new Date().toISOString();
    await addDeadLetterView(
      deps.deadLetters,
      { push: job.data, ...letter, deadAt },
      String(job.id),
    );
    return;
  }
  await deadLetterPush(deps, push, letter);
}

const PAGE = 500;

/**
 * Dead-letters every stalled-out push job that has no dead letter yet, and hands on the
 * pushes of stalled-out hand-off jobs; returns how many were dead-lettered.
 */
export async function deadLetterStalledJobs(deps: StalledJobDeps): Promise<number> {
  let count = 0;
  for (let start = 0; ; start += PAGE) {
    const jobs = await deps.deliveries.getFailed(start, start + PAGE - 1);
    if (jobs.length === 0) return count;
    for (const job of jobs) {
      if (!job?.id || !diedStalled(job.failedReason)) continue;
      if (job.name === HAND_OFF_JOB) {
        await handOnStalledHandOff(deps, job as Job<HandOff>);
        continue;
      }
      if (await deps.deadLetters.getJob(job.id)) continue;
      await deadLetterStalledPush(deps, job as Job<PushJob>);
      count += 1;
    }
  }
}
