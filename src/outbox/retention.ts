/**
 * Retention: outbox rows handed off more than OUTBOX_RETENTION_HOURS ago, and delivery
 * trace rows as old, are deleted in small batches by a loop inside the service. Unclaimed
 * rows are never touched, however old: they are events still owed to someone.
 *
 * Each batch is two statements: a plain (non-locking) SELECT of the oldest ids, then a
 * DELETE of exactly those ids by primary key. The one-statement form,
 * `DELETE … WHERE handed_off_at < ? ORDER BY handed_off_at LIMIT n`, scans the
 * (handed_off_at, id) index under REPEATABLE READ and next-key-locks the gap just above
 * the unclaimed (NULL) rows — exactly where the trigger inserts every new event. Measured
 * on MariaDB 10.11: while such a DELETE's transaction was open, the trigger's INSERT in the
 * order service's own transaction waited for it (lock wait timeout); with the by-id
 * DELETE it went straight through, and the poller's claim too. A 1,000-row batch by id
 * takes 10–20 ms, and the pause between batches leaves MySQL to the service's real work.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ATTEMPTS_TABLE, OUTBOX_TABLE } from '../db/migration-context.js';

export interface DeletedCounts {
  /** order_events rows deleted. */
  events: number;
  /** push_attempts rows deleted. */
  attempts: number;
  /** DELETE statements run (one per non-empty batch). */
  batches: number;
}

export interface DeleteExpiredOptions {
  /** Pause between batches. */
  pauseMs?: number;
  /** Stops between batches when aborted (service shutdown). */
  signal?: AbortSignal;
}

const DEFAULT_PAUSE_MS = 50;

/** One pass: deletes every expired row, `batchSize` at a time. */
export async function deleteExpired(
  knex: Knex,
  olderThan: Date,
  batchSize: number,
  { pauseMs = DEFAULT_PAUSE_MS, signal }: DeleteExpiredOptions = {},
): Promise<DeletedCounts> {
  const counts: DeletedCounts = { events: 0, attempts: 0, batches: 0 };
  const tables = [
    { table: OUTBOX_TABLE, column: 'handed_off_at', count: 'events' },
    { table: ATTEMPTS_TABLE, column: 'attempted_at', count: 'attempts' },
  ] as const;
  for (const { table, column, count } of tables) {
    for (;;) {
      if (signal?.aborted) return counts;
      const deleted = await deleteBatch(knex, table, column, olderThan, batchSize);
      if (deleted === undefined) break;
      counts[count] += deleted;
      counts.batches += 1;
      if (deleted < batchSize) break;
      await pause(pauseMs, signal);
    }
  }
  return counts;
}

/** Deletes up to `batchSize` of the oldest expired rows; undefined when there were none. */
async function deleteBatch(
  knex: Knex,
  table: string,
  column: string,
  olderThan: Date,
  batchSize: number,
): Promise<number | undefined> {
  // `column < ?` never matches NULL, so unclaimed outbox rows cannot be selected.
  const [rows] = (await knex.raw(
    `SELECT id FROM \`${table}\` WHERE \`${column}\` < ? ORDER BY \`${column}\`, id LIMIT ?`,
    [olderThan, batchSize],
  )) as [{ id: string | number }[]];
  if (rows.length === 0) return undefined;
  const ids = rows.map((row) => String(row.id));
  // The condition again, so this statement alone can only ever remove expired rows.
  const [result] = (await knex.raw(
    `DELETE FROM \`${table}\` WHERE id IN (${ids.map(() => '?').join(',')}) AND \`${column}\` < ?`,
    [...ids, olderThan],
  )) as [{ affectedRows: number }];
  return result.affectedRows;
}

export interface RetentionLoopOptions {
  knex: Knex;
  logger: Logger;
  /** OUTBOX_RETENTION_HOURS; 0 disables retention. */
  retentionHours: number;
  batchSize?: number;
  intervalMs?: number;
  pauseMs?: number;
}

export interface RetentionLoop {
  /** Stops after the batch in flight; idempotent. */
  stop(): Promise<void>;
}

export function startRetentionLoop({
  knex,
  logger,
  retentionHours,
  batchSize = 1000,
  intervalMs = 60_000,
  pauseMs = DEFAULT_PAUSE_MS,
}: RetentionLoopOptions): RetentionLoop {
  if (retentionHours <= 0) {
    logger.info('outbox retention disabled (OUTBOX_RETENTION_HOURS=0): handed-off rows are kept');
    return { stop: async () => {} };
  }
  const controller = new AbortController();
  const { signal } = controller;

  async function loop(): Promise<void> {
    while (!signal.aborted) {
      const olderThan = new Date(Date.now() - retentionHours * 3_600_000);
      try {
        const counts = await deleteExpired(knex, olderThan, batchSize, { pauseMs, signal });
        if (counts.events + counts.attempts > 0) {
          logger.info(
            { ...counts, olderThan: olderThan.toISOString() },
            'retention deleted old outbox and trace rows',
          );
        }
      } catch (err) {
        // MySQL down or busy: the next pass deletes what this one could not.
        logger.warn(
          { err, olderThan: olderThan.toISOString() },
          'retention pass failed; will try again',
        );
      }
      await pause(intervalMs, signal);
    }
  }

  const running = loop();
  return {
    async stop() {
      controller.abort();
      await running;
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
