/**
 * BullMQ's worker fetches its next job in a loop that, when Redis answers with an error
 * that is not a lost connection (MOVED from a cluster node that does not own the queue's
 * slot, NOAUTH after a password change, NOPERM, OOM, …), emits 'error' and tries again at
 * once (Worker.mainLoop → retryIfFailed, `onlyEmitError`). Such a reply refuses every try
 * alike: pointed at the wrong cluster node, that loop spun through ~7,000 fetches a second
 * and logged each one (72,000 lines in 10 s, test/redis/redis-cluster.test.ts without the
 * brake).
 *
 * The brake: each such refusal (a reply error: Redis answered, with an error) pauses
 * fetching (jobs already running carry on) for a back-off that doubles while refusals go on
 * (1 s, 2 s, 4 s … 30 s), then resumes; a minute without one starts the count over.
 * Connection errors do not brake: BullMQ waits those out itself, and they come once per
 * reconnect attempt, which ioredis already spaces out; braking on them only delayed the
 * recovery after a failover (by 28 s in the Sentinel test). Every error goes to the log,
 * throttled: the first of a run, then one summary line per 10 s. /readyz reports the
 * brake's reason while refusals keep coming.
 */
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';
import { throttledErrorLog } from '../log-throttle.js';
import { explainRedisError } from '../redis/redis-errors.js';
import type { RedisSettings } from '../redis/redis-settings.js';

export interface WorkerBrake {
  /** Why the worker is held back, while it is (or just was); undefined when it runs freely. */
  readonly problem: string | undefined;
  /** True while fetching is paused by the brake (not stopped: it resumes by itself). */
  readonly braking: boolean;
  /** Cancels a pending resume; for shutdown. */
  stop(): void;
}

export interface BrakeSettings {
  baseMs?: number;
  maxMs?: number;
  /** Errors further apart than this are not "in a row". */
  resetAfterMs?: number;
}

export function brakeOnErrors(
  worker: Worker,
  deps: { logger: Logger; redis: RedisSettings },
  { baseMs = 1_000, maxMs = 30_000, resetAfterMs = 60_000 }: BrakeSettings = {},
): WorkerBrake {
  const logRefusal = throttledErrorLog(
    deps.logger,
    (err) => `delivery worker error: ${explainRedisError(err, deps.redis)}`,
  );
  const logOther = throttledErrorLog(deps.logger, 'delivery worker error');
  let inARow = 0;
  let lastErrorAt = 0;
  let lastProblem: string | undefined;
  let pausedUntil = 0;
  let resumeTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  worker.on('error', (err) => {
    if (!isReplyError(err)) {
      logOther(err);
      return;
    }
    const now = Date.now();
    if (now - lastErrorAt > resetAfterMs) inARow = 0;
    lastErrorAt = now;
    inARow += 1;
    lastProblem = explainRedisError(err, deps.redis);
    logRefusal(err, { refusalsInARow: inARow });
    if (resumeTimer || stopped || worker.closing) return;
    const pauseMs = Math.min(baseMs * 2 ** (inARow - 1), maxMs);
    pausedUntil = now + pauseMs;
    void worker.pause(true).catch(() => {});
    resumeTimer = setTimeout(() => {
      resumeTimer = undefined;
      if (!stopped && !worker.closing) worker.resume();
    }, pauseMs);
  });

  return {
    get problem() {
      // Still failing, or failed so recently that the next try has not shown otherwise.
      const recent = Date.now() - lastErrorAt < Math.max(5_000, pausedUntil - lastErrorAt + 2_000);
      return recent && lastProblem
        ? `fetching paused after ${inARow} refusal(s) by Redis in a row: ${lastProblem}`
        : undefined;
    },
    get braking() {
      return resumeTimer !== undefined;
    },
    stop() {
      stopped = true;
      clearTimeout(resumeTimer);
      resumeTimer = undefined;
      logRefusal.flush();
      logOther.flush();
    },
  };
}

/** Redis answered the command with an error (ioredis's ReplyError), rather than not at all. */
function isReplyError(err: Error): boolean {
  return err.name === 'ReplyError';
}
