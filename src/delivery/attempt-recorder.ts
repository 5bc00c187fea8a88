/**
 * Writes the delivery trace (push_attempts) in batches: the worker only appends to a
 * buffer, and one multi-row INSERT every `flushIntervalMs` (or every `maxBatch` rows)
 * carries many attempts. While MySQL is down the buffer keeps up to `maxBuffered` rows
 * and then drops the oldest, with a warning: the trace is for support, the pushes
 * themselves never depend on it.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ATTEMPTS_TABLE } from '../db/migration-context.js';
import type { AttemptOutcome } from './delivery-worker.js';

export interface AttemptRecorder {
  record(outcome: AttemptOutcome): void;
  /** Writes what is buffered now. */
  flush(): Promise<void>;
  /** Flushes and stops the timer. */
  stop(): Promise<void>;
}

export interface AttemptRecorderSettings {
  flushIntervalMs?: number;
  maxBatch?: number;
  maxBuffered?: number;
}

export function startAttemptRecorder(
  knex: Knex,
  logger: Logger,
  { flushIntervalMs = 250, maxBatch = 500, maxBuffered = 20_000 }: AttemptRecorderSettings = {},
): AttemptRecorder {
  let buffer: Record<string, unknown>[] = [];
  let flushing: Promise<void> | undefined;
  let dropped = 0;

  async function writeBuffered(): Promise<void> {
    while (buffer.length > 0) {
      const batch = buffer.slice(0, maxBatch);
      try {
        await knex(ATTEMPTS_TABLE).insert(batch);
      } catch (err) {
        logger.warn(
          { err, buffered: buffer.length },
          'could not write the delivery trace; will retry',
        );
        return;
      }
      buffer = buffer.slice(batch.length);
    }
  }

  // Armed only while something waits to be written: an idle worker sets no timer at all
  // (a 250 ms interval was four wake-ups a second of a quiet process, issue 14).
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  function schedule(): void {
    if (timer || stopped || buffer.length === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, flushIntervalMs);
    timer.unref();
  }

  function flush(): Promise<void> {
    flushing ??= writeBuffered().finally(() => {
      flushing = undefined;
      // Left over after a failed write, or recorded meanwhile: try again later.
      schedule();
    });
    return flushing;
  }

  return {
    record(outcome) {
      buffer.push(toRow(outcome));
      if (buffer.length > maxBuffered) {
        dropped += buffer.length - maxBuffered;
        buffer = buffer.slice(buffer.length - maxBuffered);
        logger.warn({ dropped }, 'delivery trace buffer full: dropped the oldest attempts');
      }
      if (buffer.length >= maxBatch) void flush();
      else schedule();
    },
    flush,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await flushing;
      await flush();
    },
  };
}

function toRow(outcome: AttemptOutcome): Record<string, unknown> {
  const { push } = outcome;
  const to = push.recipient;
  return {
    event_id: push.event.eventId,
    order_id: push.event.orderId,
    idempotency_key: push.idempotencyKey,
    scenario: push.scenario,
    recipient_role: to.role,
    recipient_id: 'pool' in to && to.pool ? 'pool' : to.id,
    channel: push.channel,
    attempt: outcome.attempt,
    outcome: outcome.outcome,
    singer_status: outcome.singerStatus ?? null,
    error: outcome.error ? outcome.error.slice(0, 1000) : null,
    duration_ms: outcome.durationMs === undefined ? null : Math.round(outcome.durationMs),
    attempted_at: new Date(),
  };
}
