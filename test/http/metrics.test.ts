// /metrics, /healthz and /readyz while events flow. The outbox is first left without a poller, so
// order changes pile up as a backlog a scrape must show; then a poller+worker service starts on
// the same database and queue prefix, drains it, and its counters must account for every push.
// (/readyz answering 503 when MySQL is gone is covered by the fault tests.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Service } from '../../src/main.js';
import { eventually, startPipeline, type Pipeline } from '../support/pipeline-harness.js';

const ORDERS = 5;
const WAIT_MS = 20_000;
const ALL_ROLES: ReadonlySet<Role> = new Set(['poller', 'worker', 'http']);

describe('/metrics, /healthz and /readyz', () => {
  let pipeline: Pipeline;
  let drainer: Service | undefined;

  beforeAll(async () => {
    // The pipeline's own service serves HTTP only: no poller claims, no worker delivers.
    pipeline = await startPipeline('metrics', { env: { ROLES: 'http' } });
  });

  afterAll(async () => {
    await drainer?.stop();
    await pipeline?.stop();
  });

  it('/metrics values move as events flow (backlog up, then down; delivered counters)', async () => {
    const httpOnlyUrl = pipeline.service.httpUrl!;
    const before = await scrape(httpOnlyUrl);
    expect(sampleValue(before, 'push_outbox_backlog')).toBe(0);
    expect(sampleValue(before, 'push_outbox_lag_seconds')).toBe(0);

    for (let i = 0; i < ORDERS; i += 1) {
      const orderId = await pipeline.createOrder({ patientId: 200 + i, status: 'PENDING_PAYMENT' });
      await pipeline.setStatus(orderId, 'CANCELLED', 'PAYMENT_TIMEOUT');
    }

    // The lag is the age of the oldest unclaimed event: above 0 once a clock tick has passed.
    const backlogged = await eventually(
      async () => {
        const samples = await scrape(httpOnlyUrl);
        return (sampleValue(samples, 'push_outbox_lag_seconds') ?? 0) > 0 ? samples : undefined;
      },
      WAIT_MS,
      () => 'push_outbox_lag_seconds stayed 0 with unclaimed events',
    );
    expect(sampleValue(backlogged, 'push_outbox_backlog')).toBe(ORDERS);
    expect(queueDepth(backlogged, 'deliveries', 'waiting')).toBe(0);

    // A second service on the same database and prefix, as a second replica would be deployed.
    drainer = await startService(
      { ...pipeline.config, roles: ALL_ROLES },
      { logger: createLogger('silent') },
    );
    await pipeline.waitForPushes(ORDERS);
    await pipeline.waitUntilIdle();

    const drained = await scrape(drainer.httpUrl!);
    expect(sampleValue(drained, 'push_outbox_backlog')).toBe(0);
    expect(sampleValue(drained, 'push_outbox_lag_seconds')).toBe(0);
    expect(sampleValue(drained, 'push_events_claimed_total')).toBe(ORDERS);
    expect(
      sampleValue(drained, 'push_pushes_total', {
        outcome: 'delivered',
        scenario: 'PAYMENT_TIMEOUT',
        channel: 'wechat',
      }),
    ).toBe(ORDERS);
    expect(
      sampleValue(drained, 'push_singer_request_duration_seconds_count'),
    ).toBeGreaterThanOrEqual(ORDERS);
    expect(queueDepth(drained, 'deliveries', 'completed')).toBe(ORDERS);
    expect(queueDepth(drained, 'deliveries', 'waiting')).toBe(0);
    expect(queueDepth(drained, 'deliveries', 'failed')).toBe(0);
    expect(queueDepth(drained, 'dead-letters', 'waiting')).toBe(0);

    // Gauges are read from MySQL and Redis at scrape time, so the HTTP-only replica, which
    // claimed and delivered nothing, reports the drained pipeline too.
    const elsewhere = await scrape(httpOnlyUrl);
    expect(sampleValue(elsewhere, 'push_outbox_backlog')).toBe(0);
    expect(queueDepth(elsewhere, 'deliveries', 'completed')).toBe(ORDERS);
    expect(sampleValue(elsewhere, 'push_pushes_total', { outcome: 'delivered' })).toBeUndefined();
  });

  it('answers /healthz 200 and /readyz 200 with a verdict for each role it runs', async () => {
    const httpOnly = await getJson(`${pipeline.service.httpUrl}/readyz`);
    expect(httpOnly).toEqual({
      status: 200,
      body: { status: 'ready', checks: { mysql: 'ok', redis: 'ok' } },
    });

    const health = await getJson(`${pipeline.service.httpUrl}/healthz`);
    expect(health).toEqual({ status: 200, body: { status: 'ok' } });

    const allRoles = await startService(
      { ...pipeline.config, roles: ALL_ROLES },
      { logger: createLogger('silent') },
    );
    try {
      // The poller reports ready after its first successful cycle.
      const ready = await eventually(
        async () => {
          const answer = await getJson(`${allRoles.httpUrl}/readyz`);
          return answer.status === 200 ? answer : undefined;
        },
        WAIT_MS,
        () => 'the poller+worker+http service never answered /readyz 200',
      );
      expect(ready.body).toEqual({
        status: 'ready',
        checks: { mysql: 'ok', redis: 'ok', worker: 'ok', poller: 'ok' },
      });
    } finally {
      await allRoles.stop();
    }
  });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function queueDepth(samples: Sample[], queue: string, state: string): number | undefined {
  return sampleValue(samples, 'push_queue_jobs', { queue, state });
}

async function scrape(baseUrl: string): Promise<Sample[]> {
  const response = await fetch(`${baseUrl}/metrics`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
  return parsePrometheusText(text);
}

/** The Prometheus text format, as far as these tests need: `name{a="b",…} value` lines. */
function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) throw new Error(`unparseable metrics line: ${line}`);
    const [, name = '', labelText = '', value = ''] = match;
    const labels: Record<string, string> = {};
    for (const [, key = '', raw = ''] of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

/**
 * The value of the one sample named `name` whose labels include `labels`; undefined when there
 * is none. Several matches are a mistake in the test (labels too loose), so they throw.
 */
function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matches = samples.filter(
    (s) =>
      s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  if (matches.length > 1) {
    throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  }
  return matches[0]?.value;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}
