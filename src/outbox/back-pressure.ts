/**
 * Back-pressure: the poller hands off no batch while MAX_QUEUED_PUSHES pushes or more wait
 * in BullMQ, so that a Singer outage or a stopped worker fleet leaves the backlog in MySQL
 * (durable, cheap) and Redis memory stays bounded: at most the limit plus one batch's
 * pushes per poller, since a poller decides before it enqueues its batch.
 *
 * One Redis call per decision: HLEN of the ledger's holders (push-ledger.ts), every push
 * Redis holds, in a hand-off job or one of its own, waiting, running, retrying through a
 * Singer outage or waiting for its order's turn: each takes memory like any other.
 *
 * An episode starts when a count reaches the limit and ends when the outbox has caught up
 * (the poller found less than a full batch) or no count has reached the limit for
 * SETTLE_MS: one log line each, not one per cycle. In between, the poller paces its
 * hand-off to the workers' drain, and the queue swings below the limit and back many times
 * a second (by what the workers drain while a held poller sleeps): those are one episode.
 */
import type { Logger } from 'pino';

/**
 * How long the queue must stay below the limit before the episode is over. A poller only a
 * little faster than its workers reaches the limit again within seconds (2 s at 5 % faster,
 * re-counting every 100 ms); 5 s tells that apart from workers that have caught up.
 */
const SETTLE_MS = 5_000;

export interface BackPressure {
  /** Counts the queued pushes (one Redis call): may the poller hand off a batch now? */
  admits(): Promise<boolean>;
  /** The poller found less than a full batch to claim: nothing is held back any more. */
  caughtUp(): void;
  /** True from the count that reached the limit until the outbox or the workers caught up. */
  readonly active: boolean;
  /** What /readyz says about it. */
  describe(): string;
}

export function createBackPressure(options: {
  countQueued: () => Promise<number>;
  maxQueuedPushes: number;
  logger: Logger;
  onChange?: (active: boolean) => void;
  /** For the tests; SETTLE_MS otherwise. */
  settleMs?: number;
}): BackPressure {
  const { maxQueuedPushes: limit, logger, settleMs = SETTLE_MS } = options;
  let since: Date | undefined;
  let lastFullAt = 0;
  let queued: number | undefined;

  const end = (why: string) => {
    if (!since) return;
    logger.info(
      { queued, maxQueuedPushes: limit, heldBackForMs: Date.now() - since.getTime() },
      `poller resumes handing off: ${why}`,
    );
    since = undefined;
    options.onChange?.(false);
  };

  return {
    async admits() {
      queued = await options.countQueued();
      const now = Date.now();
      if (queued < limit) {
        if (now - lastFullAt >= settleMs)
          end(`the queue stayed below the limit for ${settleMs} ms`);
        return true;
      }
      lastFullAt = now;
      if (!since) {
        since = new Date(now);
        logger.warn(
          { queued, maxQueuedPushes: limit },
          'poller holds back: the delivery queue is full (MAX_QUEUED_PUSHES); new events wait ' +
            'in MySQL until the workers catch up (Singer down? workers stopped or slow?)',
        );
        options.onChange?.(true);
      }
      return false;
    },
    caughtUp() {
      end('the outbox is drained');
    },
    get active() {
      return since !== undefined;
    },
    describe() {
      return since
        ? `holding back since ${since.toISOString()}: ${queued} pushes queued, limit ${limit} ` +
            '(MAX_QUEUED_PUSHES); new events wait in MySQL'
        : `not holding back (fewer than ${limit} pushes queued)`;
    },
  };
}
