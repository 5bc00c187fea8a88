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
import type { DeliveryQueue } from './queues.js';

export interface StalledJobDeps extends DeadLetterDeps {
  deliveries: DeliveryQueue;
}

/** BullMQ's failedReason for a job whose workers died more than maxStalledCount times. */
export function diedStalled(reason: string | undefined): boolean {
  return /stalled more than allowable limit/.test(reason ?? '');
}

/** Dead-letters one such job and ends its order turn, so its order's next push may go. */
export async function deadLetterStalledJob(deps: StalledJobDeps, job: Job<PushJob>): Promise<void> {
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

/** Dead-letters every stalled-out job that has no dead letter yet; returns how many. */
export async function deadLetterStalledJobs(deps: StalledJobDeps): Promise<number> {
  let count = 0;
  for (let start = 0; ; start += PAGE) {
    const jobs = await deps.deliveries.getFailed(start, start + PAGE - 1);
    if (jobs.length === 0) return count;
    for (const job of jobs) {
      if (!job?.id || !diedStalled(job.failedReason)) continue;
      if (await deps.deadLetters.getJob(job.id)) continue;
      await deadLetterStalledJob(deps, job);
      count += 1;
    }
  }
}
