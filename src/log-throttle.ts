/**
 * An error that repeats (a refused command, a Redis that stays away) is worth one log line
 * when it starts and a count while it goes on, not a line per occurrence: BullMQ's worker
 * once wrote 600,000 "delivery worker error" lines in two minutes, one per failed fetch.
 */
import type { Logger } from 'pino';

export interface ThrottledLog {
  (err: unknown, fields?: Record<string, unknown>): void;
  /** Writes the pending summary now and stops the timer. */
  flush(): void;
}

/**
 * The first error is logged at once; those that follow within `intervalMs` are counted,
 * and one line per interval says how many there were and shows the last one. A quiet
 * interval resets it, so the next error is again logged at once.
 */
export function throttledErrorLog(
  logger: Logger,
  message: string | ((err: unknown) => string),
  intervalMs = 10_000,
): ThrottledLog {
  let suppressed = 0;
  let last: { err: unknown; fields: Record<string, unknown> | undefined } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const text = (err: unknown) => (typeof message === 'string' ? message : message(err));

  const summarize = () => {
    timer = undefined;
    if (suppressed === 0 || !last) return;
    logger.error(
      { ...last.fields, err: last.err, repeated: suppressed, intervalMs },
      `${text(last.err)} (${suppressed} more in the last ${Math.round(intervalMs / 1000)} s)`,
    );
    suppressed = 0;
    // Still failing: keep summarizing; the next quiet interval ends the run.
    timer = setTimeout(summarize, intervalMs).unref();
  };

  const log = ((err: unknown, fields?: Record<string, unknown>) => {
    last = { err, fields };
    if (timer) {
      suppressed += 1;
      return;
    }
    logger.error({ ...fields, err }, text(err));
    timer = setTimeout(summarize, intervalMs).unref();
  }) as ThrottledLog;
  log.flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (suppressed > 0) {
      const pending = suppressed;
      suppressed = 0;
      logger.error(
        { ...last?.fields, err: last?.err, repeated: pending },
        `${text(last?.err)} (${pending} more)`,
      );
    }
  };
  return log;
}
