// Issue 11, item 5: with no worker running, a 50,000-change backlog leaves at most the limit
// (plus one batch) in Redis and the rest unclaimed in MySQL; once a worker starts, every push
// arrives exactly once. Real processes: a `push start` poller (ROLES=poller,http), later a
// second one with ROLES=worker.
//
// The bound: the poller counts the pushes Redis holds alongside each claim and hands the
// batch off only when fewer than MAX_QUEUED_PUSHES are held, so the queue holds at most
// MAX_QUEUED_PUSHES - 1 + one batch's pushes (POLL_BATCH_SIZE events, one push each here).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobType } from 'bullmq';
import {
  HAND_OFF_JOB,
  openDeliveryQueue,
  type DeliveryQueue,
  type HandOff,
} from '../../src/delivery/queues.js';
import { connectRedis, type RedisClient } from '../../src/redis/redis-connection.js';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

const CHANGES = 50_000;
const LIMIT = 500;
const BATCH = 100;
const BOUND = LIMIT - 1 + BATCH;

let scene: FaultScene;
let redis: RedisClient;
let queue: DeliveryQueue;

beforeAll(async () => {
  scene = await createFaultScene('back-pressure');
  redis = connectRedis(scene.redis, 'fail-fast');
  queue = openDeliveryQueue(redis, scene.queuePrefix, {
    deliveryAttempts: 1,
    completedJobRetentionS: 1,
    failedJobRetentionS: 1,
  });
});

afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await scene?.destroy();
});

/** The pushes in the queue's jobs in these states: a hand-off job's, or a push job's one. */
async function pushesIn(states: JobType[]): Promise<number> {
  const jobs = await queue.getJobs(states, 0, -1);
  return jobs.reduce(
    (sum, job) => sum + (job.name === HAND_OFF_JOB ? (job.data as HandOff).pushes.length : 1),
    0,
  );
}

/** What the poller compares with the limit, read independently of the product's code. */
async function queueState(): Promise<{ queued: number; inRedis: number }> {
  const [queued, others] = await Promise.all([
    pushesIn(['waiting', 'paused', 'delayed', 'prioritized']),
    pushesIn(['active', 'completed', 'failed']),
  ]);
  return { queued, inRedis: queued + others };
}

/** Samples the queue every 20 ms until stopped; the largest count seen. */
function watchQueue(): { stop(): Promise<{ maxQueued: number; maxInRedis: number }> } {
  let running = true;
  let maxQueued = 0;
  let maxInRedis = 0;
  const loop = (async () => {
    while (running) {
      const { queued, inRedis } = await queueState();
      maxQueued = Math.max(maxQueued, queued);
      maxInRedis = Math.max(maxInRedis, inRedis);
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxQueued, maxInRedis };
    },
  };
}

/** 50,000 orders, each changed once (IN_SERVICE → SERVICE_OVERDUE, one push), in big statements. */
async function commitBacklog(): Promise<void> {
  const rows = Array.from({ length: 5_000 }, (_, i) => ({
    patient_id: 1000 + i,
    nurse_id: 7 + (i % 3),
    status: 'IN_SERVICE',
    status_reason: null,
  }));
  for (let done = 0; done < CHANGES; done += rows.length) {
    await scene.orderService('orders').insert(rows);
  }
  // The trigger fires per row: 10 statements, 5,000 events each.
  const [[range]] = (await scene.orderService.raw(
    'SELECT MIN(id) AS first, MAX(id) AS last FROM orders',
  )) as [[{ first: number; last: number }]];
  for (let from = Number(range.first); from <= Number(range.last); from += 5_000) {
    await scene.orderService.raw(
      "UPDATE orders SET status = 'SERVICE_OVERDUE' WHERE id BETWEEN ? AND ?",
      [from, from + 4_999],
    );
  }
}

async function handedOffRows(): Promise<number> {
  return CHANGES - (await scene.unhandedRows());
}

async function backPressureGauge(service: ServiceProcess): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const match = /^push_backpressure_active (\d+)$/m.exec(text);
  if (!match) throw new Error(`no push_backpressure_active in /metrics:\n${text.slice(0, 2000)}`);
  return Number(match[1]);
}

function transitions(service: ServiceProcess): string[] {
  return [...service.output().matchAll(/"msg":"(poller holds back|poller resumes)[^"]*"/g)].map(
    (m) => m[1]!,
  );
}

it('holds a 50,000-change backlog in MySQL while no worker runs, then delivers it exactly once', async () => {
  const timings: Record<string, number> = {};
  let started = Date.now();
  await commitBacklog();
  timings.backlogMs = Date.now() - started;
  expect(await scene.unhandedRows()).toBe(CHANGES);

  const watch = watchQueue();
  started = Date.now();
  const poller = await scene.startService('poller', {
    ROLES: 'poller,http',
    MAX_QUEUED_PUSHES: String(LIMIT),
    POLL_BATCH_SIZE: String(BATCH),
    LOG_LEVEL: 'info',
  });
  await poller.waitUntilReady();
  await until(async () => (await queueState()).queued >= LIMIT, 'the queue to reach the limit');
  timings.toLimitMs = Date.now() - started;
  // Held back for a good while (some 20 re-checks): nothing more is claimed.
  await sleep(2_000);
  const held = await queueState();
  const handedOff = await handedOffRows();
  expect(held.queued).toBeGreaterThanOrEqual(LIMIT);
  expect(held.inRedis).toBeLessThanOrEqual(BOUND);
  // One push per event: every stamped row is a job in Redis, every other row waits in MySQL.
  expect(handedOff).toBe(held.queued);
  expect(await scene.unhandedRows()).toBe(CHANGES - held.queued);
  const beforeWorkers = await watch.stop();
  expect(beforeWorkers.maxInRedis).toBeLessThanOrEqual(BOUND);

  // Healthy behaviour, so still ready, but it says so: /readyz, /metrics, one log line.
  const readyz = await poller.readyz();
  expect(readyz.status).toBe(200);
  expect(readyz.body?.details?.backpressure).toMatch(
    new RegExp(`^holding back since .*: \\d+ pushes queued, limit ${LIMIT} `),
  );
  expect(await backPressureGauge(poller)).toBe(1);
  expect(transitions(poller)).toEqual(['poller holds back']);

  const drainWatch = watchQueue();
  started = Date.now();
  const worker = await scene.startService('worker', {
    ROLES: 'worker',
    WORKER_LOCK_MS: '30000',
  });
  await until(() => scene.singer.deliveredKeys().size >= CHANGES, 'every push delivered', 180_000);
  timings.drainMs = Date.now() - started;
  const duringDrain = await drainWatch.stop();
  const figures = await scene.waitForDelivery(0);
  report('back-pressure, 50,000 changes', figures);
  console.log(
    `[back-pressure] backlog committed in ${timings.backlogMs} ms; limit reached ${timings.toLimitMs} ms after ` +
      `start; held at ${held.queued} queued (bound ${BOUND}); drained ${CHANGES} in ${timings.drainMs} ms ` +
      `(${Math.round(CHANGES / (timings.drainMs / 1000))}/s); largest queue while draining ` +
      `${duringDrain.maxQueued}; log: ${transitions(poller).join(' → ')}`,
  );
  expect(figures).toMatchObject({
    events: CHANGES,
    pushes: CHANGES,
    lost: 0,
    duplicates: 0,
    unexpected: 0,
  });
  expect(duringDrain.maxQueued).toBeLessThanOrEqual(BOUND);
  expect(await scene.unhandedRows()).toBe(0);

  // The outbox is drained: the episode is over, and said once. While the worker drained,
  // the queue swung below the limit and back every few hundred milliseconds; that is one
  // episode. (A second could only start if the poller were starved of CPU for 5 s.)
  await until(async () => (await backPressureGauge(poller)) === 0, 'the gauge to fall to 0');
  const log = transitions(poller);
  expect(log.length, log.join(' → ')).toBeLessThanOrEqual(4);
  expect(log.filter((_, i) => i % 2 === 0).every((t) => t === 'poller holds back')).toBe(true);
  expect(log.filter((_, i) => i % 2 === 1).every((t) => t === 'poller resumes')).toBe(true);
  expect(poller.output()).toContain('"msg":"poller resumes handing off: the outbox is drained"');
  expect((await poller.readyz()).body?.details?.backpressure).toMatch(/^not holding back/);

  for (const p of [poller, worker]) p.kill('SIGTERM');
  for (const p of [poller, worker]) expect((await p.waitForExit()).code).toBe(0);
}, 300_000);
