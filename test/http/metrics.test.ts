// /metrics, /healthz and /readyz on in-process services, one per role, as a fleet would run them
// on one database and queue prefix. Order changes first pile up in the outbox (no poller), then a
// ROLES=poller service moves them into the queue (no worker), then a ROLES=worker service
// delivers them; each step is scraped, and each process's counters must account for exactly its
// own share. The names, types and labels are checked against the contract the alert rules and the
// dashboard are written against (HELPERS.md, "Metric names"). Process-level outages are in
// test/faults/readiness-during-outage.test.ts; here a collector is broken on purpose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Service } from '../../src/main.js';
import { packageVersion } from '../../src/package-root.js';
import { eventually, startPipeline, type Pipeline } from '../support/pipeline-harness.js';
import { sampleValue, samplesOf, scrape, type Exposition } from '../support/prometheus-text.js';

const ORDERS = 5;
const WAIT_MS = 20_000;
/** How long the events wait in the outbox, and then in the queue, before they move on. */
const HOLD_S = 1;

const rolesOf = (...roles: Role[]): ReadonlySet<Role> => new Set(roles);

describe('/metrics, /healthz and /readyz', () => {
  let pipeline: Pipeline;
  const services: Service[] = [];
  const start = async (roles: ReadonlySet<Role>) => {
    const service = await startService(
      { ...pipeline.config, roles },
      { logger: createLogger('silent') },
    );
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    // The pipeline's own service serves HTTP only: no poller claims, no worker delivers.
    pipeline = await startPipeline('metrics', { env: { ROLES: 'http' } });
  });

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await pipeline?.stop();
  });

  it('exports the contract names with their types and labels, and Node’s standard metrics unprefixed', async () => {
    const metrics = await scrape(pipeline.service.httpUrl);
    const expected: Array<[string, string, string[]]> = [
      ['push_up', 'gauge', ['dependency']],
      ['push_collector_errors_total', 'counter', ['collector']],
      ['push_outbox_backlog', 'gauge', []],
      ['push_outbox_lag_seconds', 'gauge', []],
      ['push_events_claimed_total', 'counter', []],
      ['push_poller_errors_total', 'counter', []],
      ['push_pushes_total', 'counter', ['outcome', 'scenario', 'channel']],
      ['push_delivery_latency_seconds', 'histogram', []],
      ['push_singer_request_duration_seconds', 'histogram', []],
      ['push_queue_jobs', 'gauge', ['queue', 'state']],
      ['push_queue_oldest_waiting_age_seconds', 'gauge', ['queue']],
      ['push_backpressure_active', 'gauge', []],
      ['push_build_info', 'gauge', ['version', 'node_version']],
      ['process_cpu_seconds_total', 'counter', []],
      ['process_resident_memory_bytes', 'gauge', []],
      ['nodejs_eventloop_lag_seconds', 'gauge', []],
    ];
    for (const [name, type, labels] of expected) {
      expect(metrics.families.get(name)?.type, name).toBe(type);
      for (const sample of metrics.samples.filter((s) => familyOf(s.name) === name)) {
        const own = Object.keys(sample.labels).filter((label) => label !== 'le');
        expect(own.sort(), `${name} labels`).toEqual([...labels].sort());
      }
    }
    // The old prefix doubled the name (push_process_process_cpu_seconds_total).
    expect([...metrics.families.keys()].filter((name) => name.startsWith('push_process'))).toEqual(
      [],
    );
    // Prometheus conventions: counters end in _total, units spelled out in the name.
    for (const family of metrics.families.values()) {
      if (family.type === 'counter') expect(family.name, 'a counter').toMatch(/_total$/);
      if (family.name.startsWith('push_')) expect(family.name).not.toMatch(/_ms$|_millis/);
    }

    expect(sampleValue(metrics, 'push_up', { dependency: 'mysql' })).toBe(1);
    expect(sampleValue(metrics, 'push_up', { dependency: 'redis' })).toBe(1);
    for (const collector of ['dependencies', 'outbox', 'queues']) {
      expect(sampleValue(metrics, 'push_collector_errors_total', { collector })).toBe(0);
    }
    expect(
      sampleValue(metrics, 'push_build_info', {
        version: packageVersion(),
        node_version: process.versions.node,
      }),
    ).toBe(1);
    expect(sampleValue(metrics, 'push_poller_errors_total')).toBe(0);
    // Commit → Singer 2xx: buckets from 5 ms to 5 min.
    const bounds = samplesOf(metrics, 'push_delivery_latency_seconds_bucket').map(
      (s) => s.labels.le,
    );
    expect(bounds[0]).toBe('0.005');
    expect(bounds.at(-2)).toBe('300');
    expect(bounds.at(-1)).toBe('+Inf');
  });

  it('counts each step on the process that did it, from the outbox through the queue to Singer', async () => {
    const httpOnly = pipeline.service.httpUrl;
    const before = await scrape(httpOnly);
    expect(sampleValue(before, 'push_outbox_backlog')).toBe(0);
    expect(sampleValue(before, 'push_outbox_lag_seconds')).toBe(0);
    expect(queueAge(before, 'deliveries')).toBe(0);

    const firstChangeAt = Date.now();
    for (let i = 0; i < ORDERS; i += 1) {
      const orderId = await pipeline.createOrder({ patientId: 200 + i, status: 'PENDING_PAYMENT' });
      await pipeline.setStatus(orderId, 'CANCELLED', 'PAYMENT_TIMEOUT');
    }

    // 1. No poller: the events wait in the outbox, and the lag is the oldest one's age.
    const backlogged = await eventually(
      async () => {
        const metrics = await scrape(httpOnly);
        return (sampleValue(metrics, 'push_outbox_lag_seconds') ?? 0) >= HOLD_S
          ? metrics
          : undefined;
      },
      WAIT_MS,
      () => `push_outbox_lag_seconds stayed under ${HOLD_S} s with unclaimed events`,
    );
    expect(sampleValue(backlogged, 'push_outbox_backlog')).toBe(ORDERS);
    expect(queueDepth(backlogged, 'deliveries', 'waiting')).toBe(0);
    expect(sampleValue(backlogged, 'push_pushes_in_redis')).toBe(0);

    // 2. A poller, no worker: the pushes wait in the queue, aged from their hand-off (not
    // from their events, which are older).
    const pollerStartedAt = Date.now();
    const poller = await start(rolesOf('poller'));
    const handedOff = await eventually(
      async () => {
        const metrics = await scrape(poller.httpUrl);
        return sampleValue(metrics, 'push_events_claimed_total') === ORDERS ? metrics : undefined;
      },
      WAIT_MS,
      () => `the poller did not claim ${ORDERS} events`,
    );
    expect(sampleValue(handedOff, 'push_outbox_backlog')).toBe(0);
    expect(sampleValue(handedOff, 'push_outbox_lag_seconds')).toBe(0);
    // One claim, one hand-off job carrying the five pushes.
    expect(queueDepth(handedOff, 'deliveries', 'waiting')).toBe(1);
    expect(sampleValue(handedOff, 'push_pushes_in_redis')).toBe(ORDERS);
    expect(queueAge(handedOff, 'deliveries')).toBeLessThanOrEqual(
      (Date.now() - pollerStartedAt) / 1000,
    );
    const waited = await eventually(
      async () => {
        const metrics = await scrape(httpOnly);
        return (queueAge(metrics, 'deliveries') ?? 0) >= HOLD_S ? metrics : undefined;
      },
      WAIT_MS,
      () => `push_queue_oldest_waiting_age_seconds stayed under ${HOLD_S} s with waiting jobs`,
    );
    expect(queueDepth(waited, 'deliveries', 'waiting')).toBe(1);
    expect(sampleValue(waited, 'push_pushes_in_redis')).toBe(ORDERS);
    expect(queueAge(waited, 'dead-letters')).toBe(0);

    // 3. A worker delivers them.
    const worker = await start(rolesOf('worker'));
    await pipeline.waitForPushes(ORDERS);
    await pipeline.waitUntilIdle();
    const deliveredAt = Date.now();

    const delivered = await scrape(worker.httpUrl);
    expect(
      sampleValue(delivered, 'push_pushes_total', {
        outcome: 'delivered',
        scenario: 'PAYMENT_TIMEOUT',
        channel: 'wechat',
      }),
    ).toBe(ORDERS);
    expect(sampleValue(delivered, 'push_singer_request_duration_seconds_count')).toBe(ORDERS);
    expect(sampleValue(delivered, 'push_events_claimed_total')).toBe(0);
    // Each latency runs from the event's commit: at least the two holds, at most since the first
    // change was made. A latency taken from the job (hand-off) would be under the hold.
    expect(sampleValue(delivered, 'push_delivery_latency_seconds_count')).toBe(ORDERS);
    expect(sampleValue(delivered, 'push_delivery_latency_seconds_bucket', { le: '1' })).toBe(0);
    expect(sampleValue(delivered, 'push_delivery_latency_seconds_bucket', { le: '300' })).toBe(
      ORDERS,
    );
    const latencySum = sampleValue(delivered, 'push_delivery_latency_seconds_sum') ?? 0;
    expect(latencySum).toBeGreaterThanOrEqual(ORDERS * 2 * HOLD_S);
    expect(latencySum).toBeLessThanOrEqual((ORDERS * (deliveredAt - firstChangeAt)) / 1000);

    // The poller delivered nothing, the worker claimed nothing.
    const pollerAfter = await scrape(poller.httpUrl);
    expect(sampleValue(pollerAfter, 'push_events_claimed_total')).toBe(ORDERS);
    expect(samplesOf(pollerAfter, 'push_pushes_total')).toEqual([]);
    expect(sampleValue(pollerAfter, 'push_delivery_latency_seconds_count')).toBe(0);

    // Gauges are read from MySQL and Redis at scrape time: every process reports the pipeline.
    const elsewhere = await scrape(httpOnly);
    expect(sampleValue(elsewhere, 'push_outbox_backlog')).toBe(0);
    expect(queueDepth(elsewhere, 'deliveries', 'completed')).toBe(1);
    expect(sampleValue(elsewhere, 'push_pushes_in_redis')).toBe(0);
    expect(queueDepth(elsewhere, 'deliveries', 'waiting')).toBe(0);
    expect(queueDepth(elsewhere, 'deliveries', 'failed')).toBe(0);
    expect(queueDepth(elsewhere, 'dead-letters', 'waiting')).toBe(0);
    expect(queueAge(elsewhere, 'deliveries')).toBe(0);
    expect(samplesOf(elsewhere, 'push_pushes_total')).toEqual([]);
  });

  it('answers /healthz and /readyz on every process with a verdict for each loop it runs', async () => {
    expect(await getJson(`${pipeline.service.httpUrl}/readyz`)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { mysql: 'ok', redis: 'ok' }, details: {} },
    });
    expect(await getJson(`${pipeline.service.httpUrl}/healthz`)).toEqual({
      status: 200,
      body: { status: 'ok', checks: {} },
    });

    const allRoles = await start(rolesOf('poller', 'worker', 'http'));
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
      details: { backpressure: 'not holding back (fewer than 10000 pushes queued)' },
    });
    expect(await getJson(`${allRoles.httpUrl}/healthz`)).toEqual({
      status: 200,
      body: { status: 'ok', checks: { worker: 'ok', poller: 'ok' } },
    });
    // The dashboard is the http role's: the poller and the worker of the previous test serve
    // the probes and metrics only.
    const withoutHttp = services.filter((service) => service !== allRoles);
    expect(withoutHttp).toHaveLength(2);
    for (const service of withoutHttp) {
      expect((await fetch(`${service.httpUrl}/admin/queues`)).status).toBe(404);
      expect((await fetch(`${service.httpUrl}/healthz`)).status).toBe(200);
    }
    expect((await fetch(`${allRoles.httpUrl}/admin/queues`)).status).toBe(200);
  });

  it('keeps answering when one collector fails: its error counted, its samples dropped, the rest intact', async () => {
    const url = pipeline.service.httpUrl;
    // The outbox gone (as if push's migration had not run on this database): its collector
    // fails, the queue and dependency collectors do not.
    await pipeline.knex.raw('RENAME TABLE order_events TO order_events_away');
    let broken: Exposition;
    try {
      broken = await scrape(url);
      await scrape(url);
    } finally {
      await pipeline.knex.raw('RENAME TABLE order_events_away TO order_events');
    }
    expect(sampleValue(broken, 'push_collector_errors_total', { collector: 'outbox' })).toBe(1);
    expect(sampleValue(broken, 'push_collector_errors_total', { collector: 'queues' })).toBe(0);
    expect(samplesOf(broken, 'push_outbox_backlog')).toEqual([]);
    expect(samplesOf(broken, 'push_outbox_lag_seconds')).toEqual([]);
    expect(broken.families.get('push_outbox_lag_seconds')?.type).toBe('gauge');
    expect(queueDepth(broken, 'deliveries', 'completed')).toBe(1);
    expect(sampleValue(broken, 'push_up', { dependency: 'mysql' })).toBe(1);
    expect(sampleValue(broken, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    const repaired = await scrape(url);
    expect(sampleValue(repaired, 'push_collector_errors_total', { collector: 'outbox' })).toBe(2);
    expect(sampleValue(repaired, 'push_outbox_backlog')).toBe(0);
    expect(sampleValue(repaired, 'push_outbox_lag_seconds')).toBe(0);
  });
});

/** A histogram's samples (_bucket, _sum, _count) belong to its family. */
function familyOf(sampleName: string): string {
  return sampleName.replace(/_(bucket|sum|count)$/, '');
}

function queueDepth(metrics: Exposition, queue: string, state: string): number | undefined {
  return sampleValue(metrics, 'push_queue_jobs', { queue, state });
}

function queueAge(metrics: Exposition, queue: string): number | undefined {
  return sampleValue(metrics, 'push_queue_oldest_waiting_age_seconds', { queue });
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}
