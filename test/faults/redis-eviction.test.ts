// "With 1–4 in place an evicted job costs a delay, not a push": a Redis with
// `maxmemory-policy allkeys-lru` (what many managed Redis parameter groups default to, give or
// take the volatile- prefix) and a `maxmemory` small enough that a burst of pushes waiting
// behind a slow Singer does not fit. Redis evicts keys — jobs waiting for a worker among them —
// and the reconciler hands every push whose job it took to BullMQ again: every push arrives.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import { createFaultScene, report, type FaultScene } from './fault-fixture.js';

const ORDERS = 100;
const STEPS = 10; // 1,000 changes, one push each
const MAXMEMORY = '3mb';

let redis: PrivateRedis;
let scene: FaultScene;

beforeAll(async () => {
  redis = await startPrivateRedis({
    maxmemoryPolicy: 'allkeys-lru',
    args: ['--maxmemory', MAXMEMORY],
  });
  scene = await createFaultScene('redis-eviction', { redisUrl: redis.url });
});

afterAll(async () => {
  await scene?.destroy();
  await redis?.destroy();
});

async function evictedKeys(): Promise<number> {
  const client = new Redis(redis.url);
  try {
    const stats = await client.info('stats');
    return Number(/evicted_keys:(\d+)/.exec(stats)?.[1] ?? 0);
  } finally {
    client.disconnect();
  }
}

async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

it('delivers every push of a burst while an allkeys-lru Redis evicts its jobs', async () => {
  scene.setRespond(async () => {
    await sleep(20);
    return { status: 200 };
  });
  const orderIds = await scene.createOrders(ORDERS);
  const service = await scene.startService('through-eviction', {
    WORKER_CONCURRENCY: '4',
    RECONCILE_AFTER_S: '2',
    RECONCILE_INTERVAL_S: '1',
  });
  await service.waitUntilReady();

  await scene.changeOrders(orderIds, STEPS);
  const figures = await scene.waitForDelivery(0, 120_000);
  const evicted = await evictedKeys();
  const restored = await metric(service, 'push_reconciled_pushes_total');
  report(
    `allkeys-lru, maxmemory ${MAXMEMORY}: ${evicted} keys evicted, ${restored} pushes restored`,
    figures,
  );

  expect(evicted).toBeGreaterThan(0);
  expect(restored).toBeGreaterThan(0);
  expect(figures).toMatchObject({ events: ORDERS * STEPS, lost: 0, unexpected: 0 });
  expect(service.exitStatus).toBeUndefined();
}, 180_000);
