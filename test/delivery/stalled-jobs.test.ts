// A push BullMQ failed by itself because its workers kept dying (maxStalledCount), whose
// dead-lettering died too: the next worker to start finds it and dead-letters it, once.
// Real BullMQ queues in Redis (one key prefix per test) and a real MySQL for the dead
// letters; the crash is the state it leaves.
import { UnrecoverableError, Worker } from 'bullmq';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { handOffPushes } from '../../src/delivery/enqueue-pushes.js';
import { pushLedger, type PushLedger } from '../../src/delivery/push-ledger.js';
import {
  DELIVERY_QUEUE,
  HAND_OFF_JOB,
  openDeadLetterQueue,
  openDeliveryQueue,
  type DeadLetterQueue,
  type DeliveryQueue,
} from '../../src/delivery/queues.js';
import { connectRedis, type RedisClient } from '../../src/redis/redis-connection.js';
import { singleNodeRedis } from '../../src/redis/redis-settings.js';
import { deadLetterStalledJobs, type StalledJobDeps } from '../../src/delivery/stalled-jobs.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { toOrderEvent, type OutboxRow } from '../../src/outbox/claim-batch.js';
import { listDeadLetters } from '../../src/outcomes/dead-letter-rows.js';
import { startOutcomeRecorder, type OutcomeRecorder } from '../../src/outcomes/outcome-recorder.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import type { PushJob } from '../../src/scenarios/types.js';
import {
  createTestDatabase,
  deleteQueueKeys,
  testQueuePrefix,
  testRedisUrl,
  type TestDatabase,
} from '../support/test-database.js';

let db: TestDatabase;
let prefix: string;
let redis: RedisClient;
let deliveries: DeliveryQueue;
let deadLetters: DeadLetterQueue;
let outcomes: OutcomeRecorder;
let deps: StalledJobDeps;
let ledger: PushLedger;

beforeAll(async () => {
  db = await createTestDatabase('stalled-jobs');
  await createOrderServiceTables(db.knex);
  await migrateLatest(
    db.knex,
    migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
  );
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(() => {
  prefix = testQueuePrefix('stalled-jobs');
  redis = connectRedis(singleNodeRedis(testRedisUrl()), 'blocking');
  deliveries = openDeliveryQueue(redis, prefix, {
    deliveryAttempts: 3,
    completedJobRetentionS: 3600,
    failedJobRetentionS: 3600,
  });
  deadLetters = openDeadLetterQueue(redis, prefix);
  outcomes = startOutcomeRecorder(db.knex, pino({ level: 'silent' }));
  ledger = pushLedger(redis, { queuePrefix: prefix, completedJobRetentionS: 3600 });
  deps = { deliveries, deadLetters, ledger, outcomes };
});

afterEach(async () => {
  await outcomes.stop();
  await deliveries.close();
  await deadLetters.close();
  redis.disconnect();
  await deleteQueueKeys(testRedisUrl(), prefix);
});

/** The push of an outbox event the order service recorded: a service that started. */
async function pushFor(eventId: string): Promise<PushJob> {
  const row = {
    id: eventId,
    order_id: 123,
    patient_id: 98,
    nurse_id: 7,
    from_status: 'AWAITING_SERVICE',
    to_status: 'IN_SERVICE',
  };
  await db.knex('order_events').insert(row);
  const [stored] = (await db.knex('order_events').where({ id: eventId })) as OutboxRow[];
  if (!stored) throw new Error(`event ${eventId} was not stored`);
  const [push] = matchEvent(toOrderEvent(stored), loadScenarioCatalog()).pushes;
  if (!push) throw new Error('the sample event fires no push');
  return push;
}

/** Queues the push with its turn, takes it as a worker would, and fails it for `reason`. */
async function failAs(push: PushJob, reason: string): Promise<void> {
  await ledger.holdInOwnJobs([push]);
  await deliveries.add(push.scenario, push, { jobId: push.idempotencyKey, attempts: 1 });
  await takeAndFail(push.idempotencyKey, reason);
}

/** Takes the next job as a worker would and fails it for good for `reason`. */
async function takeAndFail(jobId: string, reason: string): Promise<void> {
  const taker = new Worker(DELIVERY_QUEUE, null, { connection: redis, prefix });
  try {
    const job = await taker.getNextJob('taker-token');
    expect(job?.id).toBe(jobId);
    // Fails for good, whatever attempts are left, as BullMQ's stall check does.
    await job!.moveToFailed(new UnrecoverableError(reason), 'taker-token');
  } finally {
    await taker.close();
  }
}

it('dead-letters a push whose workers kept dying, ends its turn, and does so once', async () => {
  const push = await pushFor('1001');
  await failAs(push, 'job stalled more than allowable limit');

  expect(await deadLetterStalledJobs(deps)).toBe(1);

  const letters = await listDeadLetters(db.knex);
  expect(letters).toHaveLength(1);
  expect(letters[0]?.push).toEqual(push);
  expect(letters[0]?.reason).toMatch(/worker died while delivering it/);
  expect((await deadLetters.getJob(push.idempotencyKey))?.data.push).toEqual(push);
  // The order's next push is not held up behind it.
  expect(await ledger.currentTurn(push.event.orderId)).toBeUndefined();

  // A second worker starting finds nothing left to do.
  expect(await deadLetterStalledJobs(deps)).toBe(0);
  expect(await listDeadLetters(db.knex)).toHaveLength(1);
});

it('leaves alone pushes that failed for any other reason', async () => {
  const push = await pushFor('1002');
  await failAs(push, 'Singer refused it: 400 Bad Request');

  expect(await deadLetterStalledJobs(deps)).toBe(0);
  const letters = await listDeadLetters(db.knex);
  expect(letters.filter((l) => l.push.idempotencyKey === push.idempotencyKey)).toEqual([]);
});

it('gives each push a stalled hand-off still held its own job, and removes the hand-off', async () => {
  const [settled, held] = [await pushFor('1003'), await pushFor('1004')];
  await handOffPushes(ledger, deliveries, [settled, held]);
  const [handOffId] = await ledger.holders([held.idempotencyKey]);
  // One of its pushes was delivered before its workers kept dying.
  await ledger.settle([settled]);
  await takeAndFail(handOffId!, 'job stalled more than allowable limit');

  expect(await deadLetterStalledJobs(deps)).toBe(0);

  expect(await deliveries.getJob(handOffId!)).toBeUndefined();
  const own = await deliveries.getJob(held.idempotencyKey);
  expect(own?.data).toEqual(held);
  expect(await deliveries.getJobState(held.idempotencyKey)).toBe('waiting');
  expect(await deliveries.getJob(settled.idempotencyKey)).toBeUndefined();
  expect(await ledger.holders([held.idempotencyKey, settled.idempotencyKey])).toEqual([
    held.idempotencyKey,
    undefined,
  ]);
  expect((await deliveries.getJobs(['waiting'])).map((job) => job.name)).not.toContain(
    HAND_OFF_JOB,
  );
  const letters = await listDeadLetters(db.knex);
  const keys = [held.idempotencyKey, settled.idempotencyKey];
  expect(letters.filter((l) => keys.includes(l.push.idempotencyKey))).toEqual([]);
});
