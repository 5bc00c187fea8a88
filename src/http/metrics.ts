/**
 * Prometheus metrics at /metrics, served by every process. Two kinds:
 *
 * - this process's own counters and histograms, moved as the poller and worker go
 *   (claims, poller errors, push outcomes, Singer and commit-to-Singer latency), plus
 *   Node's standard process metrics under their standard names;
 * - scrape-time gauges read from MySQL and Redis (pipeline-gauges.ts), each failing alone
 *   (scrape-collectors.ts), so a scrape during an outage still answers 200.
 *
 * To add a scrape-time gauge, write a collector beside the others and add it to
 * `collectors` below; to add an event counter, create it in createMetrics and give
 * PushMetrics a method that moves it.
 */
import type { Queue } from 'bullmq';
import type { Express } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AttemptOutcome } from '../delivery/delivery-worker.js';
import type { HandOffResult } from '../outbox/hand-off-batch.js';
import { packageVersion } from '../package-root.js';
import type { DependencyCheck } from './dependency-checks.js';
import type { PushLedger } from '../delivery/push-ledger.js';
import { dependencyGauges, outboxGauges, outcomeGauges, queueGauges } from './pipeline-gauges.js';
import { collectorRunner, type ScrapeCollector } from './scrape-collectors.js';

export interface PushMetrics {
  registry: Registry;
  /** Runs the scrape-time collectors, then renders every metric: GET /metrics. */
  scrape(): Promise<string>;
  onCycle(result: HandOffResult): void;
  onPollerError(): void;
  onAttempt(outcome: AttemptOutcome): void;
  /** The poller started (true) or stopped (false) holding back (outbox/back-pressure.ts). */
  onBackPressure(active: boolean): void;
  /** Pushes the reconciler handed to BullMQ again. */
  onReconciled(count: number): void;
}

export interface MetricsDeps {
  knex: Knex;
  queues: Record<string, Queue>;
  /** What push_pushes_in_redis counts. */
  ledger: PushLedger;
  dependencies: DependencyCheck[];
  logger: Logger;
}

/** Commit → Singer 2xx: a few ms when all is well, minutes while Singer is retried. */
const DELIVERY_LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
const SINGER_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** AttemptOutcome's names → the push_pushes_total `outcome` label. */
const OUTCOME_LABEL: Record<AttemptOutcome['outcome'], string> = {
  delivered: 'delivered',
  retry: 'retry',
  dead: 'dead_letter',
};

export function createMetrics(deps: MetricsDeps): PushMetrics {
  const registry = new Registry();
  // No prefix: process_cpu_seconds_total, nodejs_eventloop_lag_seconds, … as stock Node
  // dashboards expect them. The event-loop delay monitor samples every 250 ms instead of
  // prom-client's 10 ms: each sample wakes the process, and once the poller's probe is the
  // only other thing that does, its wake-ups are a measurable share of an idle `push start`'s
  // CPU (docs/BENCHMARKS.md, issue 14). A stall longer than the interval is always sampled;
  // a shorter one in proportion to its length, so the nodejs_eventloop_lag_* histograms still
  // say how late the loop runs, from fewer samples.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 250 });

  new Gauge({
    name: 'push_build_info',
    help: 'Always 1; the labels say which push and which Node run here',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: packageVersion(), node_version: process.versions.node }, 1);

  const collectors: ScrapeCollector[] = [
    dependencyGauges(registry, deps.dependencies),
    outboxGauges(registry, deps.knex),
    queueGauges(registry, deps.queues, deps.ledger),
    outcomeGauges(registry, deps.knex),
  ];
  const collect = collectorRunner(registry, collectors, deps.logger);

  const claimed = new Counter({
    name: 'push_events_claimed_total',
    help: 'Outbox events claimed and handed off to BullMQ by this process',
    registers: [registry],
  });
  const pollerErrors = new Counter({
    name: 'push_poller_errors_total',
    help: 'Poll cycles of this process that failed (MySQL or Redis refused; the rows wait)',
    registers: [registry],
  });
  const reconciled = new Counter({
    name: 'push_reconciled_pushes_total',
    help: 'Owed pushes whose jobs Redis had lost, handed to BullMQ again by this process',
    registers: [registry],
  });
  const pushes = new Counter({
    name: 'push_pushes_total',
    help: 'Push attempts by this process, by outcome (delivered, retry, dead_letter), scenario and channel',
    labelNames: ['outcome', 'scenario', 'channel'],
    registers: [registry],
  });
  const backPressure = new Gauge({
    name: 'push_backpressure_active',
    help: 'Whether this poller holds back because the delivery queue is full (MAX_QUEUED_PUSHES)',
    registers: [registry],
  });
  const singerDuration = new Histogram({
    name: 'push_singer_request_duration_seconds',
    help: 'Duration of successful Singer requests',
    buckets: SINGER_DURATION_BUCKETS,
    registers: [registry],
  });
  const deliveryLatency = new Histogram({
    name: 'push_delivery_latency_seconds',
    help:
      "From the order change (the outbox row's created_at, ms, MySQL clock) to Singer's 2xx " +
      "(this host's clock), per delivered push",
    buckets: DELIVERY_LATENCY_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    async scrape() {
      await collect();
      return registry.metrics();
    },
    onCycle(result) {
      claimed.inc(result.handedOff);
    },
    onPollerError() {
      pollerErrors.inc();
    },
    onBackPressure(active) {
      backPressure.set(active ? 1 : 0);
    },
    onAttempt(outcome) {
      const { push } = outcome;
      pushes.inc({
        outcome: OUTCOME_LABEL[outcome.outcome],
        scenario: push.scenario,
        channel: push.channel,
      });
      if (outcome.outcome !== 'delivered') return;
      if (outcome.durationMs !== undefined) singerDuration.observe(outcome.durationMs / 1000);
      // Two clocks: MySQL's wrote occurredAt, this host's reads it now. NTP keeps them
      // within a few ms; a host running behind would make it negative, counted as 0.
      const latencyMs = Date.now() - Date.parse(push.event.occurredAt);
      if (Number.isFinite(latencyMs)) deliveryLatency.observe(Math.max(0, latencyMs) / 1000);
    },
    onReconciled(count) {
      reconciled.inc(count);
    },
  };
}

export function mountMetrics(app: Express, metrics: PushMetrics): void {
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.scrape());
  });
}
