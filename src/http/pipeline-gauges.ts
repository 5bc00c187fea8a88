/**
 * The scrape-time collectors: what MySQL and Redis hold right now. They describe the
 * whole pipeline, not this process, so every process reports the same values: aggregate
 * them across processes with max(), not sum().
 */
import type { Queue } from 'bullmq';
import type { Knex } from 'knex';
import type { PushLedger } from '../delivery/push-ledger.js';
import { Gauge, type Registry } from 'prom-client';
import { countUnclaimed, oldestUnclaimedAgeSeconds } from '../outbox/read-backlog.js';
import { COUNT_CAP, countPushes } from '../outcomes/owed-pushes.js';
import type { DependencyCheck } from './dependency-checks.js';
import type { ScrapeCollector } from './scrape-collectors.js';

/**
 * Counting stops here: every process reads the backlog at every scrape, so the read
 * is bounded (10,000 index entries take a few ms); the lag says how bad it is.
 */
export const BACKLOG_COUNT_CAP = 10_000;

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** push_up{dependency}: 1 when it answered this scrape's check in time, else 0. Never fails. */
export function dependencyGauges(
  registry: Registry,
  dependencies: DependencyCheck[],
): ScrapeCollector {
  const up = new Gauge({
    name: 'push_up',
    help: 'Whether this process reaches the dependency (1) or not (0), checked at each scrape',
    labelNames: ['dependency'],
    registers: [registry],
  });
  return {
    name: 'dependencies',
    gauges: [up],
    async collect() {
      await Promise.all(
        dependencies.map(async (check) => {
          up.set({ dependency: check.name }, (await check.verdict()) === 'ok' ? 1 : 0);
        }),
      );
    },
  };
}

export function outboxGauges(registry: Registry, knex: Knex): ScrapeCollector {
  const backlog = new Gauge({
    name: 'push_outbox_backlog',
    help: `Outbox events not yet claimed by a poller, counted up to ${BACKLOG_COUNT_CAP + 1} (that value means more)`,
    registers: [registry],
  });
  const lag = new Gauge({
    name: 'push_outbox_lag_seconds',
    help: 'Age of the oldest unclaimed outbox event by MySQL clock (0 when none): alert on this',
    registers: [registry],
  });
  return {
    name: 'outbox',
    gauges: [backlog, lag],
    async collect() {
      const [count, ageSeconds] = await Promise.all([
        countUnclaimed(knex, BACKLOG_COUNT_CAP),
        oldestUnclaimedAgeSeconds(knex),
      ]);
      backlog.set(count);
      lag.set(ageSeconds ?? 0);
    },
  };
}

/** What MySQL says of the pushes handed off: still owed, or dead letters. */
export function outcomeGauges(registry: Registry, knex: Knex): ScrapeCollector {
  const owed = new Gauge({
    name: 'push_pushes_owed',
    help: `Pushes handed off to BullMQ with no outcome in MySQL yet, counted up to ${COUNT_CAP}`,
    registers: [registry],
  });
  const deadLetters = new Gauge({
    name: 'push_dead_letters',
    help: `Dead letters recorded in MySQL and not replayed, counted up to ${COUNT_CAP}`,
    registers: [registry],
  });
  return {
    name: 'outcomes',
    gauges: [owed, deadLetters],
    async collect() {
      const [owedNow, deadNow] = await Promise.all([
        countPushes(knex, 'owed'),
        countPushes(knex, 'dead_letter'),
      ]);
      owed.set(owedNow);
      deadLetters.set(deadNow);
    },
  };
}

export function queueGauges(
  registry: Registry,
  queues: Record<string, Queue>,
  ledger: PushLedger,
): ScrapeCollector {
  const jobs = new Gauge({
    name: 'push_queue_jobs',
    help: 'BullMQ jobs by queue and state (a hand-off job carries a claimed batch of pushes)',
    labelNames: ['queue', 'state'],
    registers: [registry],
  });
  const held = new Gauge({
    name: 'push_pushes_in_redis',
    help: 'Pushes Redis holds for delivery: in hand-off jobs or their own, waiting, running or retrying',
    registers: [registry],
  });
  const oldestWaiting = new Gauge({
    name: 'push_queue_oldest_waiting_age_seconds',
    help: 'How long the next job to be taken has been waiting for a worker (0 when none), by queue',
    labelNames: ['queue'],
    registers: [registry],
  });
  return {
    name: 'queues',
    gauges: [jobs, oldestWaiting, held],
    async collect() {
      await Promise.all([
        ledger.countHeld().then((count) => held.set(count)),
        ...Object.entries(queues).map(async ([name, queue]) => {
          const [counts, [next]] = await Promise.all([
            queue.getJobCounts(...QUEUE_STATES),
            // The wait list is FIFO: its far end is the job that has waited longest.
            queue.getWaiting(0, 0),
          ]);
          for (const state of QUEUE_STATES) jobs.set({ queue: name, state }, counts[state] ?? 0);
          oldestWaiting.set({ queue: name }, next ? waitingAgeSeconds(next) : 0);
        }),
      ]);
    },
  };
}

/**
 * A job waits from when it was added or last taken (processedOn), plus any delay it then
 * served (a retry's back-off, an order's turn). BullMQ keeps the last delay, so a job that
 * was delayed, ran and then stalled back to waiting is counted from a little too late.
 */
function waitingAgeSeconds(job: {
  timestamp: number;
  processedOn?: number;
  delay: number;
}): number {
  const since = (job.processedOn ?? job.timestamp) + (job.delay || 0);
  return Math.max(0, Date.now() - since) / 1000;
}
