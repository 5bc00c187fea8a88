// Redis Cluster for real (issue 13, item 3): a 3-master cluster with a replica each, started here
// on loopback, every node passworded and speaking TLS only (a CA made by openssl), as managed
// clusters (ElastiCache, MemoryDB) run. `push start` finds it through REDIS_CLUSTER_NODES, with
// the credentials and TLS of REDIS_URL and REDIS_TLS_CA; every key of push shares the prefix's
// hash tag. During a burst of
// status changes the master of that slot is failed over (CLUSTER FAILOVER on its replica): every
// push arrives under its key, each order's pushes in event order, and the process carries on by
// itself. And the mistake the issue saw: a single-node REDIS_URL at a node that does not serve the
// prefix's slot — /readyz says so (503, MOVED), and the log stays small while every command fails.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedisCluster, type PrivateRedisCluster } from '../support/redis-cluster.js';
import { createTestCertificates, type TestCertificates } from '../support/test-certificates.js';
import { sleep } from '../support/service-process.js';
import { testQueuePrefix } from '../support/test-database.js';
import {
  createFaultScene,
  changeOrdersThroughFailover,
  pushesAfterFailover,
  report,
  until,
  type FaultScene,
} from '../faults/fault-fixture.js';

const PASSWORD = 'cluster pw/#%';
const ORDERS = 30;
const STEPS = 10; // 300 changes
const FAIL_OVER_AFTER = 100;
const POLLER_BACKOFF_MS = 2_000;

let certs: TestCertificates;
let cluster: PrivateRedisCluster;
let scene: FaultScene;
let prefix: string;

beforeAll(async () => {
  certs = await createTestCertificates();
  cluster = await startRedisCluster({ password: PASSWORD, tls: certs });
  prefix = `{${testQueuePrefix('cluster')}}`;
  const [first] = cluster.seeds.split(',');
  scene = await createFaultScene('cluster', {
    redisEnv: {
      REDIS_URL: `rediss://:${encodeURIComponent(PASSWORD)}@${first}`,
      REDIS_TLS_CA: certs.caFile,
      REDIS_CLUSTER_NODES: cluster.seeds,
      QUEUE_PREFIX: prefix,
    },
  });
});

afterAll(async () => {
  await scene?.destroy();
  await cluster?.destroy();
  await certs?.remove();
});

it('delivers every push through a Redis Cluster while the master of its slot fails over mid-burst', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  const service = await scene.startService('on-cluster');
  await service.waitUntilReady();

  const { moved, startedAt } = await changeOrdersThroughFailover(
    scene,
    orderIds,
    STEPS,
    FAIL_OVER_AFTER,
    () => cluster.failOver(`${prefix}:deliveries`),
  );
  expect(moved?.to).not.toBe(moved?.from);
  expect(await cluster.masterOf(`${prefix}:deliveries`)).toBe(moved?.to);

  const figures = await scene.waitForDelivery(0);
  // Deliveries went on through the new master, not only before the old one went away.
  const after = pushesAfterFailover(scene, moved, startedAt);
  expect(after).toBeGreaterThan(0);
  report(`Redis Cluster, slot master ${moved?.from} → ${moved?.to} mid-burst`, figures);
  expect(figures).toMatchObject({ events: ORDERS * STEPS, lost: 0, unexpected: 0, outOfOrder: 0 });
  await service.waitUntilReady();
  expect(service.exitStatus).toBeUndefined();
  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 90_000);

it('is not ready, and logs a bounded number of lines, when REDIS_URL is a cluster node that does not serve the prefix', async () => {
  const wrongNode = await cluster.nodeNotServing(`${prefix}:deliveries`);
  const service = await scene.startService('wrong-node', {
    REDIS_URL: `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${wrongNode}`,
    REDIS_CLUSTER_NODES: '',
    LOG_LEVEL: 'info',
    POLL_ERROR_BACKOFF_MAX_MS: String(POLLER_BACKOFF_MS),
  });
  await until(async () => {
    const answer = await service.readyz().catch(() => undefined);
    return answer?.status === 503 && /MOVED/.test(answer.body?.checks?.redis ?? '');
  }, '/readyz reports the MOVED refusals');
  const { body } = await service.readyz();
  expect(body?.checks?.redis).toContain('REDIS_CLUSTER_NODES');

  // Past the first back-off steps (the poller doubles from 20 ms to its 2 s cap), then ten
  // seconds of what it writes and sends while every command is refused.
  await sleep(3_000);
  const linesBefore = service.lineCount();
  const outputBefore = service.output().length;
  const refusedBefore = await cluster.movedReplies(wrongNode);
  await sleep(10_000);
  const lines = service.lineCount() - linesBefore;
  const logged = service.output().slice(outputBefore).split('\n').filter(Boolean);
  const byRole = (role: string) => logged.filter((line) => line.includes(`"role":"${role}"`));
  const refused = (await cluster.movedReplies(wrongNode)) - refusedBefore;
  console.log(
    `[cluster] wrong node, 10 s: ${lines} log lines (worker ${byRole('worker').length}, ` +
      `poller ${byRole('poller').length}), ${refused} commands refused`,
  );
  // Unbraked, BullMQ's fetch loop sent ~7,000 commands a second and logged each refusal.
  // Braked, the worker backs off (1, 2, 4, 8 s …) and logs one summary per 10 s; the poller
  // retries every POLL_ERROR_BACKOFF_MAX_MS (2 s here, 30 s by default), a line each.
  expect(byRole('worker').length).toBeLessThanOrEqual(2);
  expect(byRole('poller').length).toBeLessThanOrEqual(10_000 / POLLER_BACKOFF_MS + 1);
  expect(lines).toBeLessThan(12);
  expect(refused).toBeLessThan(300);
  expect((await service.readyz()).status).toBe(503);
  expect(service.output()).not.toContain(PASSWORD);
  expect(service.output()).not.toContain(encodeURIComponent(PASSWORD));
  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 60_000);

it("takes over, on the cluster, the pushes of a hand-off whose job was never added (the hold script reads that job's key in the prefix's slot)", async () => {
  const orderIds = await scene.createOrders(5);
  await scene.changeOrders(orderIds, 2);
  const crashing = await scene.startService('cluster-crash-at-held', { PUSH_CRASH_AT: 'held' });
  expect((await crashing.waitForExit()).signal, crashing.output()).toBe('SIGKILL');
  // One more change: the next claim is a batch of another shape, under another hand-off id.
  await scene.changeOrders(orderIds.slice(0, 1), 1);

  const restarted = await scene.startService('cluster-after-held');
  await restarted.waitUntilReady();
  const figures = await scene.waitForDelivery(1);
  report('Redis Cluster, SIGKILL between the hold and the hand-off job', figures);
  expect(figures).toMatchObject({ lost: 0, unexpected: 0, outOfOrder: 0 });
  expect(await scene.unhandedRows()).toBe(0);
  restarted.kill('SIGTERM');
  expect((await restarted.waitForExit()).code).toBe(0);
}, 60_000);
