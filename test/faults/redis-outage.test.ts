// SPEC §7, "not while Redis … is down (the pipeline waits and resumes)": the service's Redis (a
// private one, so the shared test Redis stays up) is SIGKILLed in the middle of a burst and
// started again on its data. The poller must not stamp a row whose pushes Redis did not take,
// the worker must come back by itself, and every push must arrive.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { sleep } from '../support/service-process.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

const ORDERS = 30;
const STEPS = 10; // 300 changes
const OUTAGE_AFTER = 100; // changes committed when Redis dies
const OUTAGE_MS = 2_000;

let redis: PrivateRedis;
let scene: FaultScene;

beforeAll(async () => {
  redis = await startPrivateRedis();
  scene = await createFaultScene('redis-outage', { redisUrl: redis.url });
});

afterAll(async () => {
  await scene?.destroy();
  await redis?.destroy();
});

it('loses no claimed row when Redis is killed mid-burst and started again', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  const service = await scene.startService('through-redis-outage');
  await service.waitUntilReady();

  let outage: Promise<void> | undefined;
  let notReadyDuringOutage = false;
  let unstampedDuringOutage = 0;
  await scene.changeOrders(orderIds, STEPS, {
    onProgress: (done) => {
      if (done < OUTAGE_AFTER || outage) return;
      outage = (async () => {
        await redis.stop('kill');
        // The order service goes on writing while Redis is away (the lanes keep running).
        await until(
          async () => (await service.readyz()).status === 503,
          '/readyz reports the outage',
        );
        notReadyDuringOutage = true;
        await sleep(OUTAGE_MS);
        // Rows committed since Redis died could not be handed off: they wait, unstamped.
        unstampedDuringOutage = await scene.unhandedRows();
        await redis.start();
      })();
    },
  });
  await outage;
  expect(notReadyDuringOutage).toBe(true);
  expect(unstampedDuringOutage).toBeGreaterThan(0);
  await service.waitUntilReady();

  const figures = await scene.waitForDelivery(1); // one kill: of Redis
  report(`Redis SIGKILLed for ${OUTAGE_MS / 1000} s mid-burst`, figures);
  expect(figures).toMatchObject({ events: ORDERS * STEPS, lost: 0, unexpected: 0, outOfOrder: 0 });
  expect(await scene.unhandedRows()).toBe(0);
  expect(service.exitStatus).toBeUndefined();

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 120_000);
