/**
 * Retention: outbox rows handed off more than OUTBOX_RETENTION_HOURS ago, and delivery
 * trace and outcome rows as old, are deleted in small batches by a loop inside the
 * service. What is deleted is only what nobody can need again:
 *
 * - an outbox row only once none of its pushes is owed or dead-lettered (push_outcomes):
 *   the event of a push not yet delivered is what the reconciler and `push dlq replay`
 *   rebuild it from. Unclaimed rows are never touched, however old. An event that
 *   matched no scenario has no pushes and goes at its time.
 * - a push_outcomes row only once it was delivered, and delivered before the cutoff: an
 *   owed push and a dead letter stay until they are delivered.
 * - push_attempts rows by their attempt time.
 *
 * Each batch is two statements: a plain (non-locking) SELECT of the oldest candidates,
 * then a DELETE of exactly those by primary key, with the conditions again, so that the
 * statement alone can only ever remove what may go. The one-statement form,
 * `DELETE … WHERE handed_off_at < ? ORDER BY handed_off_at LIMIT n`, scans the
 * (handed_off_at, id) index under REPEATABLE READ and next-key-locks the gap just above
 * the unclaimed (NULL) rows — exactly where the trigger inserts every new event. Measured
 * on MariaDB 10.11: while such a DELETE's transaction was open, the trigger's INSERT in the
 * order service's own transaction waited for it (lock wait timeout); with the by-id
 * DELETE it went straight through, and the poller's claim too. A 1,000-row batch by id
 * takes 10–20 ms, and the pause between batches leaves MySQL to the service's real work.
 * The candidates are read after the last batch's (keyset), so rows that must stay are
 * passed over, not read again by every batch.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ATTEMPTS_TABLE, OUTBOX_TABLE, OUTCOMES_TABLE } from '../db/migration-context.js';
import { afterRow } from '../db/keyset.js';
import { sleep } from '../sleep.js';

export interface DeletedCounts {
  /** order_events rows deleted. */
  events: number;
  /** push_attempts rows deleted. */
  attempts: number;
  /** push_outcomes rows deleted. */
  outcomes: number;
  /** DELETE statements run (one per batch of candidates). */
  batches: number;
}

export interface DeleteExpiredOptions {
  /** Pause between batches. */
  pauseMs?: number;
  /** Stops between batches when aborted (service shutdown). */
  signal?: AbortSignal;
}

const DEFAULT_PAUSE_MS = 50;

/** A candidate row: what the DELETE names it by, and its place in the SELECT's order. */
type Candidate = { id: string; key?: string; place: Knex.Value[] };

interface Sweep {
  count: 'events' | 'attempts' | 'outcomes';
  /** Oldest candidates (before the cutoff) after the cursor. */
  select(
    knex: Knex,
    olderThan: Date,
    after: Candidate | undefined,
    limit: number,
  ): Promise<Candidate[]>;
  /** Deletes those of the candidates that may go; returns how many went. */
  delete(knex: Knex, olderThan: Date, rows: Candidate[]): Promise<number>;
}

const marks = (n: number) => Array.from({ length: n }, () => '?').join(',');

/** Runs a candidate SELECT whose columns are id, k (optional), then its ORDER BY columns. */
async function selectCandidates(
  knex: Knex,
  sql: string,
  bindings: Knex.Value[],
  order: readonly string[],
): Promise<Candidate[]> {
  const [rows] = (await knex.raw(sql, bindings)) as [Array<Record<string, Knex.Value>>];
  return rows.map((row) => ({
    id: String(row.id),
    key: row.k === undefined ? undefined : String(row.k),
    place: order.map((column) => row[column] ?? null),
  }));
}

async function affected(knex: Knex, sql: string, bindings: Knex.Value[]): Promise<number> {
  const [result] = (await knex.raw(sql, bindings)) as [{ affectedRows: number }];
  return result.affectedRows;
}

/** Pushes that keep their event: owed, or dead letters waiting for a replay. */
const UNSETTLED = `(outcome IS NULL OR outcome = 'dead_letter')`;

const SWEEPS: Sweep[] = [
  {
    count: 'events',
    select(knex, olderThan, after, limit) {
      // `handed_off_at < ?` never matches NULL, so unclaimed outbox rows cannot be selected.
      const order = ['handed_off_at', 'id'];
      const [since, values] = afterRow(order, after?.place);
      return selectCandidates(
        knex,
        `SELECT id, handed_off_at FROM ${OUTBOX_TABLE}
          WHERE handed_off_at < ? ${since} ORDER BY handed_off_at, id LIMIT ?`,
        [olderThan, ...values, limit],
        order,
      );
    },
    delete(knex, olderThan, rows) {
      return affected(
        knex,
        `DELETE FROM ${OUTBOX_TABLE} WHERE id IN (${marks(rows.length)}) AND handed_off_at < ?
            AND NOT EXISTS (SELECT 1 FROM ${OUTCOMES_TABLE} p
                             WHERE p.event_id = ${OUTBOX_TABLE}.id AND ${UNSETTLED})`,
        [...rows.map((row) => row.id), olderThan],
      );
    },
  },
  {
    count: 'outcomes',
    select(knex, olderThan, after, limit) {
      // push_outcomes_by_state: the delivered range, oldest first; its entries end in the
      // primary key (event_id, scenario), so that order needs no sort.
      const order = ['handed_off_at', 'event_id', 'scenario'];
      const [since, values] = afterRow(order, after?.place);
      return selectCandidates(
        knex,
        `SELECT event_id AS id, idempotency_key AS k, handed_off_at, event_id, scenario
           FROM ${OUTCOMES_TABLE}
          WHERE outcome = 'delivered' AND handed_off_at < ? ${since}
          ORDER BY handed_off_at, event_id, scenario LIMIT ?`,
        [olderThan, ...values, limit],
        order,
      );
    },
    delete(knex, olderThan, rows) {
      // Delivered before the cutoff too: a push handed off long ago and delivered only
      // lately keeps its row for the whole retention after its delivery.
      return affected(
        knex,
        `DELETE FROM ${OUTCOMES_TABLE}
          WHERE event_id IN (${marks(rows.length)}) AND idempotency_key IN (${marks(rows.length)})
            AND outcome = 'delivered' AND settled_at < ?`,
        [...rows.map((row) => row.id), ...rows.map((row) => row.key ?? ''), olderThan],
      );
    },
  },
  {
    count: 'attempts',
    select(knex, olderThan, after, limit) {
      const order = ['attempted_at', 'id'];
      const [since, values] = afterRow(order, after?.place);
      return selectCandidates(
        knex,
        `SELECT id, attempted_at FROM ${ATTEMPTS_TABLE}
          WHERE attempted_at < ? ${since} ORDER BY attempted_at, id LIMIT ?`,
        [olderThan, ...values, limit],
        order,
      );
    },
    delete(knex, olderThan, rows) {
      return affected(
        knex,
        `DELETE FROM ${ATTEMPTS_TABLE} WHERE id IN (${marks(rows.length)}) AND attempted_at < ?`,
        [...rows.map((row) => row.id), olderThan],
      );
    },
  },
];

/** One pass: deletes every expired row that may go, `batchSize` candidates at a time. */
export async function deleteExpired(
  knex: Knex,
  olderThan: Date,
  batchSize: number,
  { pauseMs = DEFAULT_PAUSE_MS, signal }: DeleteExpiredOptions = {},
): Promise<DeletedCounts> {
  const counts: DeletedCounts = { events: 0, attempts: 0, outcomes: 0, batches: 0 };
  for (const sweep of SWEEPS) {
    let after: Candidate | undefined;
    for (;;) {
      if (signal?.aborted) return counts;
      const rows = await sweep.select(knex, olderThan, after, batchSize);
      if (rows.length === 0) break;
      counts[sweep.count] += await sweep.delete(knex, olderThan, rows);
      counts.batches += 1;
      if (rows.length < batchSize) break;
      after = rows.at(-1);
      await sleep(pauseMs, signal);
    }
  }
  return counts;
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
        if (counts.events + counts.attempts + counts.outcomes > 0) {
          logger.info(
            { ...counts, olderThan: olderThan.toISOString() },
            'retention deleted old outbox, trace and outcome rows',
          );
        }
      } catch (err) {
        // MySQL down or busy: the next pass deletes what this one could not.
        logger.warn(
          { err, olderThan: olderThan.toISOString() },
          'retention pass failed; will try again',
        );
      }
      await sleep(intervalMs, signal);
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
