// The push ledger (turns, holders, settled pushes) on a real Redis, one key prefix per test:
// what a hand-off job may send, and what a repeated or overlapping hand-off of the same rows
// (a poller that died between enqueueing and committing) does — nothing twice.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { pushLedger, type PushLedger } from '../../src/delivery/push-ledger.js';
import { DELIVERY_QUEUE } from '../../src/delivery/queues.js';
import { connectRedis, type RedisClient } from '../../src/redis/redis-connection.js';
import { singleNodeRedis } from '../../src/redis/redis-settings.js';
import type { PushJob } from '../../src/scenarios/types.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import { sampleEvent } from '../support/sample-event.js';
import { deleteQueueKeys, testQueuePrefix, testRedisUrl } from '../support/test-database.js';

const catalog = loadScenarioCatalog();
let prefix: string;
let redis: RedisClient;
let ledger: PushLedger;

beforeEach(() => {
  prefix = testQueuePrefix('push-ledger');
  redis = connectRedis(singleNodeRedis(testRedisUrl()), 'fail-fast');
  ledger = pushLedger(redis, { queuePrefix: prefix, completedJobRetentionS: 3600 });
});

afterEach(async () => {
  redis.disconnect();
  await deleteQueueKeys(testRedisUrl(), prefix);
});

/** The push of a service that started, for `orderId`, as event `eventId`. */
function pushOf(eventId: number, orderId: string): PushJob {
  const event = {
    ...sampleEvent('AWAITING_SERVICE', 'IN_SERVICE'),
    eventId: String(eventId),
    orderId,
  };
  const [push] = matchEvent(event, catalog).pushes;
  if (!push) throw new Error('the sample event fires no push');
  return push;
}

const keysOf = (pushes: PushJob[]) => pushes.map((push) => push.idempotencyKey);

/** The hash BullMQ keeps for a delivery job (enough for the ledger to see that it exists). */
async function addJob(id: string): Promise<void> {
  await redis.hset(`${prefix}:${DELIVERY_QUEUE}:${id}`, 'name', 'hand-off', 'data', '{}');
}

it("lets a hand-off send each order's pushes in event order, and only what is its turn", async () => {
  const earlier = pushOf(10, '1');
  await ledger.holdForHandOff([earlier], 'hand-off-a');
  // Order 1 has a push ahead of this hand-off's, held by another; order 2 has none.
  const mine = [pushOf(11, '1'), pushOf(12, '2'), pushOf(13, '2'), pushOf(14, '1')];
  await ledger.holdForHandOff(mine, 'hand-off-b');

  expect(await ledger.take(mine, 'hand-off-b')).toEqual(['wait', 'go', 'go', 'wait']);
  expect(await ledger.countHeld()).toBe(5);

  // Once the earlier push is settled, order 1's pushes are next, both of them.
  await ledger.settle([earlier]);
  expect(await ledger.take(mine, 'hand-off-b')).toEqual(['go', 'go', 'go', 'go']);
  expect(await ledger.currentTurn('1')).toBe(mine[0]?.idempotencyKey);
  expect(await ledger.countHeld()).toBe(4);
});

it('keeps the first holder when the same rows are handed off twice, and sends nothing settled again', async () => {
  const pushes = [pushOf(20, '3'), pushOf(21, '4')];
  await ledger.holdForHandOff(pushes, 'hand-off-first');
  await addJob('hand-off-first');
  // The poller died before its commit; the rows, and one more, are claimed again.
  const again = [...pushes, pushOf(22, '5')];
  await ledger.holdForHandOff(again, 'hand-off-again');

  expect(await ledger.holders(keysOf(again))).toEqual([
    'hand-off-first',
    'hand-off-first',
    'hand-off-again',
  ]);
  expect(await ledger.take(again, 'hand-off-again')).toEqual(['skip', 'skip', 'go']);
  expect(await ledger.take(pushes, 'hand-off-first')).toEqual(['go', 'go']);

  // The first delivered them; a third hand-off of the same rows holds and sends nothing.
  await ledger.settle(pushes);
  expect(await ledger.settledLately(keysOf(pushes))).toEqual([true, true]);
  await ledger.holdForHandOff(pushes, 'hand-off-third');
  expect(await ledger.holders(keysOf(pushes))).toEqual([undefined, undefined]);
  expect(await ledger.take(pushes, 'hand-off-third')).toEqual(['skip', 'skip']);
  expect(await ledger.currentTurn('3')).toBeUndefined();
});

it('gives a push its own job as holder, unsettling a replayed dead letter', async () => {
  const push = pushOf(30, '6');
  await ledger.holdForHandOff([push], 'hand-off-x');
  await ledger.settle([push]);
  expect(await ledger.settledLately([push.idempotencyKey])).toEqual([true]);

  await ledger.holdInOwnJobs([push]);
  expect(await ledger.holders([push.idempotencyKey])).toEqual([push.idempotencyKey]);
  expect(await ledger.settledLately([push.idempotencyKey])).toEqual([false]);
  expect(await ledger.currentTurn('6')).toBe(push.idempotencyKey);
  expect(await ledger.holds(push, push.idempotencyKey)).toBe(true);
  expect(await ledger.holds(push, 'hand-off-x')).toBe(false);
  // A hand-off no longer holds it: it is the push job's to send.
  await addJob(push.idempotencyKey);
  expect(await ledger.take([push], 'hand-off-x')).toEqual(['skip']);
});

it('forgets settled pushes after the retention, at the next hand-off', async () => {
  const short = pushLedger(redis, { queuePrefix: prefix, completedJobRetentionS: 1 });
  const old = pushOf(40, '7');
  await short.holdForHandOff([old], 'hand-off-old');
  await short.settle([old]);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  await short.holdForHandOff([pushOf(41, '8')], 'hand-off-new');
  expect(await short.settledLately([old.idempotencyKey])).toEqual([false]);
});

it('hands on to push jobs only what a hand-off still holds', async () => {
  const [mine, theirs, lost] = [pushOf(50, '9'), pushOf(51, '10'), pushOf(52, '11')];
  await ledger.holdForHandOff([mine, lost], 'hand-off-a');
  await ledger.holdForHandOff([theirs], 'hand-off-b');
  // Redis lost one of hand-off-a's pushes (as after a FLUSHALL); the reconciler restores it.
  await redis.hdel(`${prefix}:push-holders`, lost.idempotencyKey);

  expect(await ledger.handOver([mine, theirs, lost], 'hand-off-a')).toEqual([mine]);
  expect(await ledger.holders(keysOf([mine, theirs, lost]))).toEqual([
    mine.idempotencyKey,
    'hand-off-b',
    undefined,
  ]);
});

it('lets a later hand-off take over pushes whose first hand-off job was never added', async () => {
  // Redis went away between the first hold and its job: the rows stayed unstamped, and the
  // poller claims them again in a batch of another shape (another hand-off id).
  const pushes = [pushOf(60, '12'), pushOf(61, '12'), pushOf(62, '13')];
  await ledger.holdForHandOff(pushes, 'hand-off-never-added');
  await ledger.holdForHandOff(pushes, 'hand-off-retried');

  expect(await ledger.holders(keysOf(pushes))).toEqual(Array(3).fill('hand-off-retried'));
  expect(await ledger.take(pushes, 'hand-off-retried')).toEqual(['go', 'go', 'go']);
  expect(await ledger.take(pushes, 'hand-off-never-added')).toEqual(['skip', 'skip', 'skip']);
  expect(await ledger.countHeld()).toBe(3);
});

it('hands on again what a hand-off handed on to jobs Redis never got, and nothing with a job', async () => {
  const [first, later] = [pushOf(70, '14'), pushOf(71, '14')];
  await ledger.holdForHandOff([first, later], 'hand-off-r');
  await addJob('hand-off-r');
  expect(await ledger.handOver([first, later], 'hand-off-r')).toEqual([first, later]);
  // Redis went away before their jobs were added, and the hand-off is retried.
  expect(await ledger.take([first, later], 'hand-off-r')).toEqual(['orphaned', 'orphaned']);
  expect(await ledger.handOver([first, later], 'hand-off-r')).toEqual([first, later]);

  // A push whose job exists is that job's: neither taken nor handed on again.
  await addJob(first.idempotencyKey);
  expect(await ledger.take([first, later], 'hand-off-r')).toEqual(['skip', 'orphaned']);
  expect(await ledger.handOver([first, later], 'hand-off-r')).toEqual([later]);
  expect(await ledger.holders(keysOf([first, later]))).toEqual(keysOf([first, later]));
  expect(await ledger.currentTurn('14')).toBe(first.idempotencyKey);
});
