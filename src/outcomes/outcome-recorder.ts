/**
 * Commits each push's outcome (delivered or dead-lettered) to push_outcomes before the
 * worker tells BullMQ the job is done, so that MySQL, not Redis, is what says a push is
 * settled. A group commit keeps that cheap: an outcome that arrives waits up to `lingerMs`
 * (or until `maxBatch` are waiting) for others to share its commit, and one multi-row upsert
 * carries them all; up to `maxWriters` such writes are in flight at once. Nothing that reaches
 * Singer waits for this (the push was sent before its outcome is recorded); what waits is the
 * end of its order turn and its job's completion. Measured (docs/BENCHMARKS.md): at 500
 * pushes a second, writing at once meant a commit — an fsync of the binary log with
 * sync_binlog=1 — for every one or two pushes, most of what push cost MariaDB.
 *
 * A write that fails (MySQL down, a deadlock) is retried, with backoff, for as long as the
 * service runs: the jobs wait, active and locked, rather than complete unrecorded. Only
 * stop() gives up, rejecting what is still unwritten; those jobs fail their attempt and
 * BullMQ sends them again later under the same idempotency key.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { OUTCOMES_TABLE } from '../db/migration-context.js';
import { sleep } from '../sleep.js';
import type { PushJob } from '../scenarios/types.js';
import {
  byPrimaryKey,
  IDENTITY_COLUMNS,
  identityOf,
  type Outcome,
  type PushIdentity,
} from './outcome-rows.js';

export interface SettledPush {
  push: PushJob;
  outcome: Outcome;
  attempts: number;
  singerStatus?: number;
  /** Why it was dead-lettered. */
  reason?: string;
  singerBody?: string;
}

export interface OutcomeRecorder {
  /** Resolves once the outcome is committed; rejects only if stopped before that. */
  record(settled: SettledPush): Promise<void>;
  /** Lets the write in flight finish, then rejects what is still unwritten. Idempotent. */
  stop(): Promise<void>;
}

export interface OutcomeRecorderSettings {
  /** Rows per upsert. */
  maxBatch?: number;
  /** How long an outcome waits for others to share its commit. */
  lingerMs?: number;
  /** Upserts in flight at once. */
  maxWriters?: number;
  retryMaxMs?: number;
  /**
   * Called when writes start failing and when they succeed again: while they fail, the
   * deliveries waiting for them are not stuck (liveness.ts), MySQL is away.
   */
  onFailing?: () => void;
  onRecovered?: () => void;
}

type OutcomeRow = PushIdentity & {
  attempts: number;
  singer_status: number | null;
  reason: string | null;
  singer_body: string | null;
  outcome: Outcome;
};

// The outcome's own columns; `outcome` last, because MySQL evaluates the assignments of
// ON DUPLICATE KEY UPDATE left to right and the others must still see the old outcome.
const SETTLED_COLUMNS = ['attempts', 'singer_status', 'reason', 'singer_body'] as const;
const INSERT_COLUMNS = [
  ...IDENTITY_COLUMNS,
  ...SETTLED_COLUMNS,
  'outcome',
] as const satisfies ReadonlyArray<keyof OutcomeRow>;

/**
 * A delivered push stays delivered (Singer has it; a late dead letter or a repeat changes
 * nothing). VALUES() is MariaDB's only spelling and still MySQL 8.4's, where it is
 * deprecated in favour of a row alias MariaDB does not have.
 */
const UPSERT_TAIL = `ON DUPLICATE KEY UPDATE
      ${[...SETTLED_COLUMNS, 'settled_at', 'outcome']
        .map((c) => `${c} = IF(outcome <=> 'delivered', ${c}, VALUES(${c}))`)
        .join(',\n      ')}`;

const RETRYABLE_LOCK_ERRORS = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

export function startOutcomeRecorder(
  knex: Knex,
  logger: Logger,
  {
    maxBatch = 500,
    lingerMs = 20,
    maxWriters = 2,
    retryMaxMs = 5_000,
    onFailing,
    onRecovered,
  }: OutcomeRecorderSettings = {},
): OutcomeRecorder {
  interface Pending {
    row: OutcomeRow;
    resolve: () => void;
    reject: (err: Error) => void;
  }
  let pending: Pending[] = [];
  const writers = new Set<Promise<void>>();
  let lingering = false;
  let stopped = false;
  const stopping = new AbortController();

  async function write(rows: OutcomeRow[]): Promise<void> {
    rows.sort(byPrimaryKey);
    const tuple = `(${INSERT_COLUMNS.map(() => '?').join(',')}, CURRENT_TIMESTAMP(3))`;
    await knex.raw(
      `INSERT INTO ${OUTCOMES_TABLE} (${INSERT_COLUMNS.join(', ')}, settled_at)
      VALUES ${rows.map(() => tuple).join(',')}
      ${UPSERT_TAIL}`,
      rows.flatMap((row) => INSERT_COLUMNS.map((column) => row[column])),
    );
  }

  async function drain(): Promise<void> {
    let failures = 0;
    while (pending.length > 0 && !stopped) {
      if (pending.length < maxBatch && failures === 0) {
        // One writer at a time gathers; the others are writing what they gathered.
        lingering = true;
        await sleep(lingerMs, stopping.signal);
        lingering = false;
        if (stopped) break;
      }
      const batch = pending.splice(0, maxBatch);
      try {
        await write(batch.map((entry) => entry.row));
        for (const entry of batch) entry.resolve();
        if (failures > 0) {
          logger.info({ failures }, 'recording push outcomes again');
          onRecovered?.();
        }
        failures = 0;
      } catch (err) {
        pending = [...batch, ...pending];
        failures += 1;
        if (failures === 1) onFailing?.();
        const lockConflict = RETRYABLE_LOCK_ERRORS.has((err as { code?: string }).code ?? '');
        if (!lockConflict || failures > 3) {
          logger.warn(
            { err, waiting: pending.length, failures },
            'could not record push outcomes in MySQL; their jobs wait, and the write is retried',
          );
        }
        await sleep(lockConflict ? 10 : Math.min(100 * 2 ** failures, retryMaxMs), stopping.signal);
      }
    }
  }

  function startWriting(): void {
    if (lingering || writers.size >= maxWriters) return;
    const writer = drain().finally(() => {
      writers.delete(writer);
      if (pending.length > 0 && !stopped) startWriting();
    });
    writers.add(writer);
  }

  return {
    record(settled) {
      if (stopped) return Promise.reject(new Error('the outcome recorder is stopped'));
      return new Promise<void>((resolve, reject) => {
        pending.push({ row: rowOf(settled), resolve, reject });
        startWriting();
      });
    },
    async stop() {
      // The worker has finished its jobs by now (main.ts closes it first), so nothing should
      // be waiting; the write in flight, if any, is let finish.
      stopped = true;
      stopping.abort();
      await Promise.all(writers);
      for (const entry of pending.splice(0)) {
        entry.reject(
          new Error(`stopped before the outcome of ${entry.row.idempotency_key} was recorded`),
        );
      }
    },
  };
}

function rowOf(settled: SettledPush): OutcomeRow {
  // Not `{ ...identityOf(push), attempts, … }`: on Node 20 a literal that starts with a
  // spread and goes on is built slowly, about 7 µs a row against 0.3 (measured), and this
  // runs for every push.
  return Object.assign(identityOf(settled.push), {
    attempts: settled.attempts,
    singer_status: settled.singerStatus ?? null,
    reason: settled.reason?.slice(0, 1000) ?? null,
    singer_body: settled.singerBody?.slice(0, 1000) ?? null,
    outcome: settled.outcome,
  });
}
