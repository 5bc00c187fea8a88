// Redis Sentinel for real (issue 13, item 3): a master, its replica and three sentinels started
// here on loopback; master and replica passworded, the sentinels with a password of their own.
// `push start` asks the sentinels for the master (REDIS_SENTINELS, REDIS_SENTINEL_NAME,
// REDIS_SENTINEL_PASSWORD) with the credentials of REDIS_URL. During a burst of status changes
// the master is SIGKILLed: the sentinels promote the replica, push follows it by itself (it does
// not retry the dead address forever, as a plain client did), and every push arrives under its
// key, each order's pushes in event order.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSentinelGroup, type PrivateSentinelGroup } from '../support/redis-sentinel.js';
import {
  createFaultScene,
  changeOrdersThroughFailover,
  pushesAfterFailover,
  report,
  until,
  type FaultScene,
} from '../faults/fault-fixture.js';

const PASSWORD = 'sentinel-group p@ss/%';
const SENTINEL_PASSWORD = 'the sentinels own';
const ORDERS = 30;
const STEPS = 10; // 300 changes
const KILL_AFTER = 100;

let group: PrivateSentinelGroup;
let scene: FaultScene;

beforeAll(async () => {
  group = await startSentinelGroup({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
  scene = await createFaultScene('sentinel', {
    redisEnv: {
      // Behind sentinels REDIS_URL gives the credentials (and TLS); its host is not used.
      REDIS_URL: `redis://:${encodeURIComponent(PASSWORD)}@sentinel-master`,
      REDIS_SENTINELS: group.addresses,
      REDIS_SENTINEL_NAME: group.masterName,
      REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
    },
  });
});

afterAll(async () => {
  await scene?.destroy();
  await group?.destroy();
});

it('delivers every push through Sentinel while the master is SIGKILLed mid-burst', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  // Replication is asynchronous: a master SIGKILLed mid-burst may take with it the last writes
  // it had acknowledged (a hand-off job, a push's record), and what restores those is the
  // reconciler, RECONCILE_AFTER_S after their hand-off (60 s by default; a few here, so that
  // every push arrives within the test).
  const service = await scene.startService('behind-sentinel', {
    RECONCILE_AFTER_S: '5',
    RECONCILE_INTERVAL_S: '1',
  });
  await service.waitUntilReady();

  const { moved, startedAt } = await changeOrdersThroughFailover(
    scene,
    orderIds,
    STEPS,
    KILL_AFTER,
    () => group.killMaster(),
  );
  expect(moved?.to).toBe(group.replica.port);

  const figures = await scene.waitForDelivery(0);
  // Deliveries went on through the new master, not only before the old one went away.
  const after = pushesAfterFailover(scene, moved, startedAt);
  expect(after).toBeGreaterThan(0);
  report(`Sentinel, master ${moved?.from} SIGKILLed, ${moved?.to} promoted mid-burst`, figures);
  expect(figures).toMatchObject({ events: ORDERS * STEPS, lost: 0, unexpected: 0, outOfOrder: 0 });
  await until(async () => (await service.readyz()).status === 200, 'ready on the new master');
  expect(service.output()).not.toContain(encodeURIComponent(PASSWORD));
  expect(service.exitStatus).toBeUndefined();
  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 90_000);
