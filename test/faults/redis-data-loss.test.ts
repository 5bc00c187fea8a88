// MySQL is the source of truth: Redis losing everything it held — FLUSHALL, or a Redis without
// persistence restarted empty — costs queued pushes a delay, never the pushes. Hundreds of
// pushes wait behind a slow stand-in Singer in the product's own Redis (a private one: the
// shared test Redis is never flushed), then Redis loses them. The reconciler finds them owed
// in push_outcomes with no job left, and hands them to BullMQ again: every push arrives, under
// its original key, each order's pushes in the order of its changes.
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { pushLedger } from '../../src/delivery/push-ledger.js';
import { connectRedis } from '../../src/redis/redis-connection.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

const ORDERS = 40;
const STEPS = 8; // 320 changes, one push each
const QUEUED_AT_LEAST = 150; // pushes waiting in Redis when it loses them
const SINGER_DELAY_MS = 40; // with 4 workers: ≈ 100 pushes a second

/** Reconciliation quick enough for a test; the defaults are a minute and ten seconds. */
const ENV = {
  WORKER_CONCURRENCY: '4',
  RECONCILE_AFTER_S: '2',
  RECONCILE_INTERVAL_S: '1',
  LOG_LEVEL: 'info',
};

let redis: PrivateRedis | undefined;
let scene: FaultScene | undefined;

afterEach(async () => {
  await scene?.destroy();
  await redis?.destroy();
  scene = undefined;
  redis = undefined;
});

/** The pushes Redis holds for delivery (push-ledger.ts), in any job and any state. */
async function heldPushes(scene: FaultScene): Promise<number> {
  const connection = connectRedis(scene.redis, 'fail-fast');
  try {
    return await pushLedger(connection, {
      queuePrefix: scene.queuePrefix,
      completedJobRetentionS: 1,
    }).countHeld();
  } finally {
    connection.disconnect();
  }
}

/** A metric's value from the service's /metrics (0 when absent). */
async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/**
 * Fills Redis with pushes behind a slow Singer, lets `lose` take them, and checks that every
 * push still arrives. Returns the figures.
 */
async function queueThenLose(
  label: string,
  persistence: boolean,
  lose: (redis: PrivateRedis) => Promise<void>,
) {
  // Without persistence, like many containers' default: a restart comes back empty.
  redis = await startPrivateRedis(persistence ? {} : { args: ['--appendonly', 'no'] });
  scene = await createFaultScene(label, { redisUrl: redis.url });
  const current = scene;
  // A slow Singer, which can also be made to hold every request until released.
  const gate: { held?: Promise<void>; release: () => void } = { release: () => {} };
  const holding = new Set<string>();
  current.setRespond(async (push) => {
    if (gate.held) {
      holding.add(push.idempotencyKey);
      await gate.held;
    }
    await sleep(SINGER_DELAY_MS);
    return { status: 200 };
  });
  const orderIds = await current.createOrders(ORDERS);
  const service = await current.startService(label, ENV);
  await service.waitUntilReady();

  await current.changeOrders(orderIds, STEPS);
  // Every event handed off (so its pushes are in Redis only), many still waiting there.
  await until(async () => (await current.unhandedRows()) === 0, 'every event handed off');
  // Singer holds what it is answering: from here until the loss nothing more arrives, so
  // what did is known exactly, and so is what Redis will lose.
  gate.held = new Promise((resolve) => (gate.release = resolve));
  await until(() => holding.size === 4, 'Singer holds a request from each worker');
  const arrived = new Set(current.singer.deliveredKeys());
  const inFlight = holding.size;
  // Every push that arrived is settled (its outcome committed) a moment after Singer's answer.
  await until(
    async () => (await heldPushes(current)) === ORDERS * STEPS - arrived.size,
    'the pushes that arrived to be settled',
  );
  // Held and not at Singer: waiting in jobs, or in hand-off jobs for a free lane.
  const queued = ORDERS * STEPS - arrived.size - inFlight;
  expect(queued).toBeGreaterThanOrEqual(QUEUED_AT_LEAST);

  await lose(redis);
  expect(await heldPushes(current)).toBe(0);
  // Singer answers the requests it held (their outcomes are committed long before the
  // reconciler looks), then answers at once: the rest is the reconciler's to restore.
  current.setRespond(undefined);
  gate.release();

  const figures = await current.waitForDelivery(0, 90_000);
  const restored = await metric(service, 'push_reconciled_pushes_total');
  await until(async () => (await metric(service, 'push_pushes_owed')) === 0, 'nothing owed');
  expect(figures).toMatchObject({
    events: ORDERS * STEPS,
    lost: 0,
    unexpected: 0,
    outOfOrder: 0,
  });
  // Only what Redis lost was restored: neither a push that had arrived nor one in flight,
  // and none twice. A job still running when Redis lost it sends nothing more — a hand-off job
  // sends a push only while the ledger says it holds it, a push job only in its turn — save a
  // send per lane whose check passed the moment before the loss (delivered, not restored).
  const restoredKeys = [
    ...service
      .output()
      .matchAll(/"key":"([^"]+)"[^\n]*restored a push whose job Redis no longer held/g),
  ].map((m) => m[1]!);
  expect(restoredKeys).toHaveLength(restored);
  expect(restored).toBeLessThanOrEqual(queued);
  expect(restored).toBeGreaterThanOrEqual(queued - inFlight);
  expect(restoredKeys.filter((key) => arrived.has(key) || holding.has(key))).toEqual([]);
  expect(figures.duplicates).toBe(0);
  expect(service.exitStatus).toBeUndefined();
  return { figures, queued, restored };
}

it('delivers every push queued in Redis when Redis is FLUSHALLed, under its key and in order', async () => {
  const { figures, queued, restored } = await queueThenLose('redis-flushall', true, async (r) => {
    const client = new Redis(r.url);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  });
  report(`FLUSHALL with ${queued} pushes queued (${restored} restored)`, figures);
}, 180_000);

it('delivers every push queued in a Redis without persistence that is killed and starts empty', async () => {
  const { figures, queued, restored } = await queueThenLose(
    'redis-restart-empty',
    false,
    async (r) => {
      await r.stop('kill');
      await r.start();
    },
  );
  report(
    `Redis (no persistence) restarted empty with ${queued} pushes queued (${restored} restored)`,
    figures,
  );
}, 180_000);
