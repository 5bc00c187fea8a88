// SPEC §7 under load: 2,000 status changes over 200 orders while the service is SIGKILLed and
// started again twice, at whatever point each of its loops happens to be. Nothing may be lost,
// and each order's pushes must first reach Singer in the order of its events.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServiceProcess } from '../support/service-process.js';
import { createFaultScene, report, type FaultScene } from './fault-fixture.js';

const ORDERS = 200;
const STEPS = 10; // 2,000 changes
const KILL_AFTER = [600, 1300]; // changes committed when each SIGKILL lands

let scene: FaultScene;

beforeAll(async () => {
  scene = await createFaultScene('kill-burst');
});

afterAll(async () => {
  await scene.destroy();
});

it('loses no push and keeps each order in event order when the service is SIGKILLed twice mid-burst', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  let service: ServiceProcess = await scene.startService('burst-1');
  await service.waitUntilReady();

  let kills = 0;
  let restarting = Promise.resolve();
  const written = await scene.changeOrders(orderIds, STEPS, {
    onProgress: (done) => {
      if (kills < KILL_AFTER.length && done >= (KILL_AFTER[kills] ?? Infinity)) {
        kills += 1;
        const victim = service;
        victim.kill('SIGKILL');
        // Started again at once; the order service never waits for push.
        restarting = restarting.then(async () => {
          await victim.waitForExit();
          service = await scene.startService(`burst-${kills + 1}`);
        });
      }
    },
  });
  await restarting;
  expect(written).toBe(ORDERS * STEPS);
  expect(kills).toBe(2);

  const figures = await scene.waitForDelivery(kills, 90_000);
  report('2,000 changes over 200 orders, SIGKILLed twice', figures);
  expect(figures).toMatchObject({
    events: ORDERS * STEPS,
    pushes: ORDERS * STEPS,
    lost: 0,
    unexpected: 0,
  });
  expect(figures.outOfOrder).toBe(0);
  expect(await scene.unhandedRows()).toBe(0);

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 150_000);
