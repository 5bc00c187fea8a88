// SPEC §1–§2 "many pollers may run at once, on many hosts", with §7's guarantees: two poller
// processes and two worker processes (ROLES) share one backlog and one Redis. SKIP LOCKED must
// give each row to one poller, the job ids must give each push to one worker: every push arrives,
// none twice, and each order's pushes in event order.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFaultScene, report, type FaultScene } from './fault-fixture.js';

const ORDERS = 50;
const BACKLOG_STEPS = 6; // 300 changes waiting before any process starts
const LIVE_STEPS = 4; // 200 more while all four run

let scene: FaultScene;

beforeAll(async () => {
  scene = await createFaultScene('two-by-two');
});

afterAll(async () => {
  await scene.destroy();
});

it('two pollers and two workers on one backlog lose nothing and send nothing twice', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  await scene.changeOrders(orderIds, BACKLOG_STEPS);

  // Nothing is killed here, so the product's own lock duration: a duplicate would be a real one.
  const env = { WORKER_LOCK_MS: '30000', POLL_BATCH_SIZE: '20' };
  const processes = await Promise.all([
    scene.startService('poller-1', { ...env, ROLES: 'poller,http' }),
    scene.startService('poller-2', { ...env, ROLES: 'poller,http' }),
    // info: each worker logs its deliveries, so the test can see both took part.
    scene.startService('worker-1', { ...env, ROLES: 'worker,http', LOG_LEVEL: 'info' }),
    scene.startService('worker-2', { ...env, ROLES: 'worker,http', LOG_LEVEL: 'info' }),
  ]);
  await Promise.all(processes.map((p) => p.waitUntilReady()));
  await scene.changeOrders(orderIds, LIVE_STEPS);

  const figures = await scene.waitForDelivery(0);
  report('two pollers, two workers', figures);
  expect(figures).toMatchObject({
    events: ORDERS * (BACKLOG_STEPS + LIVE_STEPS),
    lost: 0,
    duplicates: 0,
    unexpected: 0,
    outOfOrder: 0,
  });
  expect(await scene.unhandedRows()).toBe(0);
  // Both workers delivered (each logs one operations record per push): the work was shared.
  const delivered = processes
    .slice(2)
    .map((p) => p.output().match(/"msg":"push delivered"/g)?.length ?? 0);
  expect(
    delivered.every((n) => n > 0),
    `pushes delivered per worker: ${delivered.join(', ')}`,
  ).toBe(true);
  expect(delivered[0]! + delivered[1]!).toBe(figures.pushes);

  for (const p of processes) p.kill('SIGTERM');
  for (const p of processes) expect((await p.waitForExit()).code).toBe(0);
});
