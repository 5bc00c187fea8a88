// A push BullMQ failed by itself because its workers kept dying (maxStalledCount), whose
// dead-lettering died too: the next worker to start finds it and dead-letters it, once.
// Real BullMQ queues in Redis (one key prefix per test); the crash is the state it leaves.
import { Worker } from 'bullmq';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { listDeadLetters } from '../../src/delivery/dead-letter.js';
import { addTurns, currentTurn } from '../../src/delivery/order-turns.js';
import {
  DELIVERY_QUEUE,
  openDeadLetterQueue,
  openDeliveryQueue,
  type DeadLetterQueue,
  type DeliveryQueue,
} from '../../src/delivery/queues.js';
import { connectRedis, type RedisClient } from '../../src/redis/redis-connection.js';
import { singleNodeRedis } from '../../src/redis/redis-settings.js';
import { deadLetterStalledJobs } from '../../src/delivery/stalled-jobs.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import type { PushJob } from '../../src/scenarios/types.js';
import { sampleEvent } from '../support/sample-event.js';
import { deleteQueueKeys, testQueuePrefix, testRedisUrl } from '../support/test-database.js';

let prefix: string;
let redis: RedisClient;
let deliveries: DeliveryQueue;
let deadLetters: DeadLetterQueue;

beforeEach(() => {
  prefix = testQueuePrefix('stalled-jobs');
  redis = connectRedis(singleNodeRedis(testRedisUrl()), 'blocking');
  deliveries = openDeliveryQueue(redis, prefix, {
    deliveryAttempts: 3,
    completedJobRetentionS: 3600,
    failedJobRetentionS: 3600,
  });
  deadLetters = openDeadLetterQueue(redis, prefix);
});

afterEach(async () => {
  await deliveries.close();
  await deadLetters.close();
  redis.disconnect();
  await deleteQueueKeys(testRedisUrl(), prefix);
});

function pushFor(eventId: string): PushJob {
  const event = { ...sampleEvent('AWAITING_SERVICE', 'IN_SERVICE'), eventId };
  const [push] = matchEvent(event, loadScenarioCatalog()).pushes;
  if (!push) throw new Error('the sample event fires no push');
  return push;
}

/** Queues the push with its turn, takes it as a worker would, and fails it for `reason`. */
async function failAs(push: PushJob, reason: string): Promise<void> {
  await addTurns(redis, prefix, [push]);
  // One attempt: moveToFailed then fails it for good, as BullMQ's stall check does.
  await deliveries.add(push.scenario, push, { jobId: push.idempotencyKey, attempts: 1 });
  const taker = new Worker<PushJob>(DELIVERY_QUEUE, null, { connection: redis, prefix });
  try {
    const job = await taker.getNextJob('taker-token');
    expect(job?.id).toBe(push.idempotencyKey);
    await job!.moveToFailed(new Error(reason), 'taker-token');
  } finally {
    await taker.close();
  }
}

it('dead-letters a push whose workers kept dying, ends its turn, and does so once', async () => {
  const push = pushFor('1001');
  await failAs(push, 'job stalled more than allowable limit');
  const deps = { deliveries, deadLetters, turns: redis, prefix };

  expect(await deadLetterStalledJobs(deps)).toBe(1);

  const letters = await listDeadLetters(deadLetters);
  expect(letters).toHaveLength(1);
  expect(letters[0]?.push).toEqual(push);
  expect(letters[0]?.reason).toMatch(/worker died while delivering it/);
  // The order's next push is not held up behind it.
  expect(await currentTurn(redis, prefix, push.event.orderId)).toBeUndefined();

  // A second worker starting finds nothing left to do.
  expect(await deadLetterStalledJobs(deps)).toBe(0);
  expect(await listDeadLetters(deadLetters)).toHaveLength(1);
});

it('leaves alone pushes that failed for any other reason', async () => {
  await failAs(pushFor('1002'), 'Singer refused it: 400 Bad Request');

  expect(await deadLetterStalledJobs({ deliveries, deadLetters, turns: redis, prefix })).toBe(0);
  expect(await listDeadLetters(deadLetters)).toHaveLength(0);
});
