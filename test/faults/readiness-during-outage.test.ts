// SPEC §6–§7 and the probes' contract, on real `push start` processes as a fleet runs them: one
// with every role, one ROLES=worker and one ROLES=poller. While Redis is down, and while MySQL is
// unreachable, every one of them stays up (no crash, no exit) and keeps answering, each probe
// within the kubelet's default 1 s timeout: /healthz 200 (its loops turn; an outage is not a
// reason to restart it), /readyz 503 naming the dependency, /metrics 200 with the process metrics
// and push_up saying what is gone. Once the server is back, /readyz is 200 again and pushes flow
// without a restart. Then the paths go dark instead (packets vanish, no RST, no FIN). MySQL's:
// every statement has a deadline, so the poller's loop keeps turning and /healthz stays 200.
// Redis's, for the poller alone: its hand-off waits for an answer that never comes, its /healthz
// turns 503 — the case a restart cures — and a poller started in its place delivers everything.
//
// Redis is a private one the test kills and starts again; MySQL, and the poller's Redis, sit
// behind TCP relays (test/support/tcp-relay.ts) the test cuts, black-holes and opens again.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';
import type { ServiceProcess } from '../support/service-process.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';
import { testServerUrl } from '../support/test-database.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

/** The kubelet's default probe timeout (timeoutSeconds: 1). */
const PROBE_TIMEOUT_MS = 1_000;
/**
 * The ROLES=poller process counts as stuck after 2 × (CLAIM_TIMEOUT_S 2 s + a MySQL connect 5 s +
 * DB_QUERY_TIMEOUT_MS 1 s + its longest sleep, POLL_ERROR_BACKOFF_MAX_MS 500 ms) = 17 s without
 * a cycle ending (main.ts).
 */
const POLLER_ENV = { ROLES: 'poller', CLAIM_TIMEOUT_S: '2', DB_QUERY_TIMEOUT_MS: '1000' };
const POLLER_STALE_MS = 17_000;

let redis: PrivateRedis;
let scene: FaultScene;
let mysqlRelay: TcpRelay;
/** Between the ROLES=poller process and Redis only. */
let pollerRedisRelay: TcpRelay;
let pollerEnv: Record<string, string>;
let service: ServiceProcess;
let worker: ServiceProcess;
let poller: ServiceProcess;
let fleet: ServiceProcess[];
let orderIds: number[];

beforeAll(async () => {
  redis = await startPrivateRedis();
  scene = await createFaultScene('readiness', { redisUrl: redis.url });
  const server = new URL(testServerUrl());
  mysqlRelay = await startTcpRelay(server.hostname, Number(server.port || 3306));
  orderIds = await scene.createOrders(2);
  const viaRelay = new URL(scene.db.url);
  viaRelay.port = String(mysqlRelay.port);
  const DATABASE_URL = viaRelay.toString();
  const redisUrl = new URL(redis.url);
  pollerRedisRelay = await startTcpRelay(redisUrl.hostname, Number(redisUrl.port));
  redisUrl.port = String(pollerRedisRelay.port);
  pollerEnv = { DATABASE_URL, REDIS_URL: redisUrl.toString(), ...POLLER_ENV };
  [service, worker, poller] = await Promise.all([
    scene.startService('readiness', { DATABASE_URL }),
    scene.startService('worker-only', { DATABASE_URL, ROLES: 'worker' }),
    scene.startService('poller-only', pollerEnv),
  ]);
  fleet = [service, worker, poller];
  await Promise.all(fleet.map((member) => member.waitUntilReady()));
});

afterAll(async () => {
  await scene?.destroy();
  await mysqlRelay?.close();
  await pollerRedisRelay?.close();
  await redis?.destroy();
});

async function pushesFlow(label: string): Promise<void> {
  await scene.changeOrders(orderIds, 1);
  const figures = await scene.waitForDelivery(1, 30_000);
  report(label, figures);
  expect(figures).toMatchObject({ lost: 0, unexpected: 0, outOfOrder: 0 });
}

interface ProbeAnswer {
  status: number;
  body: { status?: string; checks?: Record<string, string> };
}

/** A GET as the kubelet makes it: no answer within 1 s is a failed probe (it rejects). */
async function probe(member: ServiceProcess, path: '/healthz' | '/readyz'): Promise<ProbeAnswer> {
  const { status, text } = await member.get(path, PROBE_TIMEOUT_MS);
  return { status, body: JSON.parse(text) as ProbeAnswer['body'] };
}

/**
 * What every process must say while `down` is out of reach: alive, not ready because of `down`,
 * and scrapeable, with the collector that reads `down` counting its failures.
 */
async function expectOutageSeen(
  member: ServiceProcess,
  down: 'mysql' | 'redis',
  collector: 'outbox' | 'queues',
): Promise<void> {
  const up = down === 'mysql' ? 'redis' : 'mysql';
  const health = await probe(member, '/healthz');
  expect(health.status, `${member.name} /healthz`).toBe(200);
  expect(health.body.status).toBe('ok');

  const readiness = await probe(member, '/readyz');
  expect(readiness.status, `${member.name} /readyz`).toBe(503);
  expect(readiness.body.status).toBe('not ready');
  expect(readiness.body.checks?.[down]).toMatch(/\w/);
  expect(readiness.body.checks?.[down]).not.toBe('ok');
  expect(readiness.body.checks?.[up]).toBe('ok');

  const scraped = await member.get('/metrics', 10_000);
  expect(scraped.status, `${member.name} /metrics`).toBe(200);
  const metrics = parsePrometheusText(scraped.text);
  expect(sampleValue(metrics, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  expect(sampleValue(metrics, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  expect(sampleValue(metrics, 'push_up', { dependency: down })).toBe(0);
  expect(sampleValue(metrics, 'push_up', { dependency: up })).toBe(1);
  expect(sampleValue(metrics, 'push_collector_errors_total', { collector })).toBeGreaterThan(0);
  expect(sampleValue(metrics, 'push_collector_errors_total', { collector: 'dependencies' })).toBe(
    0,
  );
}

it('answers 503 on /readyz while Redis is down, 200 on /healthz and /metrics, and is ready and delivering once Redis is back', async () => {
  await redis.stop('kill');
  let answer = await service.readyz();
  await until(
    async () => (answer = await service.readyz()).status === 503,
    '/readyz reports Redis down',
  );
  expect(answer.body?.status).toBe('not ready');
  expect(answer.body?.checks?.redis).not.toBe('ok');
  expect(answer.body?.checks?.mysql).toBe('ok');
  // A change committed during the outage waits in the outbox.
  await scene.changeOrders(orderIds, 1);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  for (const member of fleet) {
    expect(member.exitStatus, member.name).toBeUndefined();
    await expectOutageSeen(member, 'redis', 'queues');
  }

  await redis.start();
  await Promise.all(fleet.map((member) => member.waitUntilReady()));
  for (const member of fleet) expect(member.exitStatus, member.name).toBeUndefined();
  await pushesFlow('Redis down, /readyz 503 then 200');
});

it('answers 503 on /readyz while MySQL is unreachable, 200 on /healthz and /metrics, and is ready and delivering once it is back', async () => {
  mysqlRelay.stop();
  let answer = await service.readyz();
  await until(
    async () => (answer = await service.readyz()).status === 503,
    '/readyz reports MySQL down',
  );
  expect(answer.body?.checks?.mysql).not.toBe('ok');
  expect(answer.body?.checks?.redis).toBe('ok');
  // The order service (on its own connection) goes on; its changes wait in the outbox.
  await scene.changeOrders(orderIds, 1);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  for (const member of fleet) {
    expect(member.exitStatus, member.name).toBeUndefined();
    await expectOutageSeen(member, 'mysql', 'outbox');
  }
  const pollerMetrics = parsePrometheusText((await poller.get('/metrics')).text);
  expect(sampleValue(pollerMetrics, 'push_poller_errors_total')).toBeGreaterThan(0);

  await mysqlRelay.start();
  await Promise.all(fleet.map((member) => member.waitUntilReady()));
  for (const member of fleet) expect(member.exitStatus, member.name).toBeUndefined();
  await pushesFlow('MySQL unreachable, /readyz 503 then 200');

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
});

it('keeps /healthz 200 on a poller while its MySQL path is dark: every statement has a deadline, so the loop turns', async () => {
  mysqlRelay.blackHole();
  const deadline = Date.now() + POLLER_STALE_MS + 3_000;
  let readiness: ProbeAnswer | undefined;
  while (Date.now() < deadline) {
    const health = await probe(poller, '/healthz');
    expect(health, 'the poller on a dark MySQL path').toEqual({
      status: 200,
      body: { status: 'ok', checks: { poller: 'ok' } },
    });
    readiness = await probe(poller, '/readyz');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(readiness?.status).toBe(503);
  expect(readiness?.body.checks?.mysql).not.toBe('ok');
  expect(
    sampleValue(
      parsePrometheusText((await poller.get('/metrics')).text),
      'push_poller_errors_total',
    ),
  ).toBeGreaterThan(0);

  mysqlRelay.forward();
  await Promise.all([poller, worker].map((member) => member.waitUntilReady()));
  await pushesFlow('MySQL path dark, /healthz 200 throughout');
});

it('fails /healthz on a poller whose hand-off to Redis never returns (a dark path, no deadline), and a poller started in its place delivers everything', async () => {
  pollerRedisRelay.blackHole();
  // Something to claim: the poller claims it and waits for Redis to take the pushes.
  await scene.changeOrders(orderIds, 1);
  let health: ProbeAnswer | undefined;
  await until(
    async () => (health = await probe(poller, '/healthz')).status === 503,
    'the poller stuck handing off to a dark Redis fails /healthz',
    POLLER_STALE_MS + 30_000,
  );
  expect(health?.body).toEqual({
    status: 'stale',
    checks: {
      poller: expect.stringMatching(/^no cycle has ended for \d+\.\d s \(stale after 17\.0 s\)$/),
    },
  });
  const readiness = await probe(poller, '/readyz');
  expect(readiness.status).toBe(503);
  expect(readiness.body.checks?.redis).toBe('no answer within 400 ms');
  expect(readiness.body.checks?.poller).toMatch(/^no cycle has ended/);
  // The worker reaches Redis directly and has nothing in flight: waiting for work is not stuck.
  expect(await probe(worker, '/healthz')).toEqual({
    status: 200,
    body: { status: 'ok', checks: { worker: 'ok' } },
  });

  // What the kubelet does on a failed liveness probe: a new process, with new connections.
  await poller.stop();
  pollerRedisRelay.forward();
  poller = await scene.startService('poller-restarted', pollerEnv);
  await poller.waitUntilReady();
  await pushesFlow('Redis path dark for the poller, /healthz 503, restarted');
});
