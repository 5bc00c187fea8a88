/**
 * Prometheus metrics at /metrics. Counters are this process's; the backlog, lag and queue
 * depths are read from MySQL and Redis when scraped, so any replica reports the whole
 * pipeline. The lag (age of the oldest unclaimed event) is what to alert on.
 */
import type { Queue } from 'bullmq';
import type { Express } from 'express';
import type { Knex } from 'knex';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { AttemptOutcome } from '../delivery/delivery-worker.js';
import type { HandOffResult } from '../outbox/hand-off-batch.js';

export interface PushMetrics {
  registry: Registry;
  onCycle(result: HandOffResult): void;
  onAttempt(outcome: AttemptOutcome): void;
}

export function createMetrics(deps: { knex: Knex; queues: Record<string, Queue> }): PushMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'push_process_' });

  new Gauge({
    name: 'push_outbox_backlog',
    help: 'Outbox events not yet claimed by a poller',
    registers: [registry],
    async collect() {
      const { backlog } = await outboxBacklog(deps.knex);
      this.set(backlog);
    },
  });
  new Gauge({
    name: 'push_outbox_lag_seconds',
    help: 'Age of the oldest unclaimed outbox event (0 when none): alert on this',
    registers: [registry],
    async collect() {
      const { oldestAgeSeconds } = await outboxBacklog(deps.knex);
      this.set(oldestAgeSeconds);
    },
  });
  new Gauge({
    name: 'push_queue_jobs',
    help: 'BullMQ jobs by queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const [name, queue] of Object.entries(deps.queues)) {
        const counts = await queue.getJobCounts(
          'waiting',
          'active',
          'delayed',
          'failed',
          'completed',
        );
        for (const [state, count] of Object.entries(counts))
          this.set({ queue: name, state }, count);
      }
    },
  });
  const claimed = new Counter({
    name: 'push_events_claimed_total',
    help: 'Outbox events claimed and handed off to BullMQ by this process',
    registers: [registry],
  });
  const pushes = new Counter({
    name: 'push_pushes_total',
    help: 'Push attempts by outcome (delivered, retry, dead), scenario and channel',
    labelNames: ['outcome', 'scenario', 'channel'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'push_singer_request_duration_seconds',
    help: 'Duration of successful Singer requests',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  return {
    registry,
    onCycle(result) {
      claimed.inc(result.handedOff);
    },
    onAttempt(outcome) {
      pushes.inc({
        outcome: outcome.outcome,
        scenario: outcome.push.scenario,
        channel: outcome.push.channel,
      });
      if (outcome.durationMs !== undefined) latency.observe(outcome.durationMs / 1000);
    },
  };
}

/** Unclaimed events and the age of the oldest; both read on the claim index. */
export async function outboxBacklog(
  knex: Knex,
): Promise<{ backlog: number; oldestAgeSeconds: number }> {
  const [rows] = (await knex.raw(
    `SELECT COUNT(*) AS backlog,
            COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), CURRENT_TIMESTAMP(3)), 0) / 1e6 AS age
       FROM ${OUTBOX_TABLE} WHERE handed_off_at IS NULL`,
  )) as [{ backlog: number | string; age: number | string }[]];
  const row = rows[0];
  return {
    backlog: Number(row?.backlog ?? 0),
    oldestAgeSeconds: Math.max(Number(row?.age ?? 0), 0),
  };
}

export function mountMetrics(app: Express, metrics: PushMetrics): void {
  app.get('/metrics', async (_req, res) => {
    try {
      res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      // A scrape while MySQL or Redis is down still says why instead of hanging.
      res.status(503).send(`metrics unavailable: ${(err as Error).message}\n`);
    }
  });
}
