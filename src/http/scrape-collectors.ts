/**
 * Gauges read from MySQL and Redis when Prometheus scrapes. Each collector fails alone: one
 * that throws, or does not answer within COLLECTOR_TIMEOUT_MS, counts an error in
 * push_collector_errors_total{collector}, drops its own gauges' samples (a backlog read an
 * hour ago is not the backlog now), and leaves every other metric to answer. So /metrics
 * answers 200 during a MySQL or Redis outage, with the process's own counters, the retry
 * figures and push_up saying which dependency is gone.
 */
import type { Logger } from 'pino';
import { Counter, type Gauge, type Registry } from 'prom-client';
import { boundedCall } from './bounded-call.js';

/** Well inside Prometheus' default 10 s scrape timeout, so the rest still gets scraped. */
export const COLLECTOR_TIMEOUT_MS = 2_000;

export interface ScrapeCollector {
  /** The `collector` label of push_collector_errors_total: `outbox`, `queues`, … */
  name: string;
  /** The gauges it sets; their samples are dropped when it fails. */
  gauges: Gauge[];
  /** Reads the current values and sets them on its gauges; rejects when it cannot. */
  collect(): Promise<void>;
}

/** Returns the function to call before each rendering of the registry. */
export function collectorRunner(
  registry: Registry,
  collectors: ScrapeCollector[],
  logger: Logger,
): () => Promise<void> {
  const errors = new Counter({
    name: 'push_collector_errors_total',
    help: 'Scrape-time collectors that failed or did not answer in time, by collector',
    labelNames: ['collector'],
    registers: [registry],
  });
  const runs = collectors.map((collector) => {
    // Present from the first scrape, so rate() and alerts see 0 rather than no series.
    errors.inc({ collector: collector.name }, 0);
    let failing: string | undefined;
    const collect = boundedCall(() => collector.collect(), COLLECTOR_TIMEOUT_MS);
    return async () => {
      try {
        await collect();
        if (failing) logger.info({ collector: collector.name }, 'metrics collector recovered');
        failing = undefined;
      } catch (err) {
        errors.inc({ collector: collector.name });
        for (const gauge of collector.gauges) dropSamples(gauge);
        const message = (err as Error).message;
        // Once per change, not once per scrape: an outage is already on push_up.
        if (message !== failing) {
          logger.warn({ collector: collector.name, err }, 'metrics collector failed');
        }
        failing = message;
      }
    };
  });
  return async () => {
    await Promise.all(runs.map((run) => run()));
  };
}

/**
 * reset() empties a labelled gauge but leaves an unlabelled one at 0, which would read as
 * "no backlog"; removing the empty label set drops that last sample too.
 */
function dropSamples(gauge: Gauge): void {
  gauge.reset();
  gauge.remove({});
}
