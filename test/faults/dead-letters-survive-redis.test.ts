// Dead letters live in MySQL: a push Singer refused is still listed by `push dlq list` after
// its Redis was FLUSHALLed (and while that Redis is down), `push trace` still says what became
// of each push, and `push dlq replay` delivers it under its original key — recording its new
// outcome. Real processes: `push start` and the CLI, against a private Redis.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listDeadLetters } from '../../src/outcomes/dead-letter-rows.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { runCli } from '../support/run-cli.js';
import { createFaultScene, until, type FaultScene } from './fault-fixture.js';

let redis: PrivateRedis;
let scene: FaultScene;

beforeAll(async () => {
  redis = await startPrivateRedis();
  scene = await createFaultScene('dlq-after-flushall', { redisUrl: redis.url });
});

afterAll(async () => {
  await scene?.destroy();
  await redis?.destroy();
});

interface TracedPushJson {
  idempotencyKey: string;
  state: string;
  outcome: { outcome: string | null } | null;
  queue: { delivery: string; deadLetter: string } | null;
}

async function tracedPushes(env: Record<string, string>, orderId: number) {
  const traced = await runCli(['trace', String(orderId), '--json'], env);
  expect(traced.code, traced.stderr).toBe(0);
  const trace = JSON.parse(traced.stdout) as { events: Array<{ pushes: TracedPushJson[] }> };
  return trace.events.flatMap((event) => event.pushes);
}

it('lists and replays a dead letter after its Redis was FLUSHALLed, under its original key', async () => {
  const [refusedOrder, deliveredOrder] = await scene.createOrders(2);
  if (refusedOrder === undefined || deliveredOrder === undefined) throw new Error('no orders');
  let accept = false;
  scene.setRespond((push) =>
    !accept && push.body.data.orderId === String(refusedOrder)
      ? { status: 400, body: { error: 'template not approved yet' } }
      : { status: 200 },
  );
  const service = await scene.startService('dlq-after-flushall', {
    RECONCILE_AFTER_S: '1',
    RECONCILE_INTERVAL_S: '1',
  });
  await service.waitUntilReady();
  await scene.changeOrders([refusedOrder, deliveredOrder], 1);

  const [expectedRefused] = (await scene.expectedPushes()).filter(
    (p) => p.orderId === String(refusedOrder),
  );
  if (!expectedRefused) throw new Error('the refused order has no push');
  await until(
    async () => (await listDeadLetters(scene.db.knex)).length === 1,
    'the refused push is a dead letter in MySQL',
  );
  await until(() => scene.singer.deliveredKeys().size === 1, 'the other push is delivered');

  const flusher = new Redis(redis.url);
  await flusher.flushall();
  flusher.disconnect();

  const env = { DATABASE_URL: scene.db.url, REDIS_URL: redis.url, QUEUE_PREFIX: scene.queuePrefix };
  const listed = await runCli(['dlq', 'list', '--json'], env);
  expect(listed.code, listed.stderr).toBe(0);
  expect(JSON.parse(listed.stdout)).toEqual([
    expect.objectContaining({
      eventId: String(expectedRefused.eventId),
      orderId: String(refusedOrder),
      idempotencyKey: expectedRefused.key,
      attempts: 1,
      singerStatus: 400,
      singerBody: '{"error":"template not approved yet"}',
      reason: expect.stringMatching(/Singer refused it/),
    }),
  ]);
  // The trace answers from MySQL: Redis holds no job for either push any more.
  expect(await tracedPushes(env, refusedOrder)).toMatchObject([
    {
      idempotencyKey: expectedRefused.key,
      state: 'dead-lettered',
      outcome: { outcome: 'dead_letter' },
      queue: { delivery: 'unknown', deadLetter: 'unknown' },
    },
  ]);
  expect(await tracedPushes(env, deliveredOrder)).toMatchObject([
    { state: 'delivered', outcome: { outcome: 'delivered' }, queue: { delivery: 'unknown' } },
  ]);

  // Listing needs no Redis at all.
  await redis.stop('kill');
  const withoutRedis = await runCli(['dlq', 'list'], env);
  expect(withoutRedis.code, withoutRedis.stderr).toBe(0);
  expect(withoutRedis.stdout).toContain(`event ${expectedRefused.eventId}`);
  await redis.start();
  await service.waitUntilReady();

  accept = true;
  const replay = await runCli(['dlq', 'replay', String(expectedRefused.eventId)], env);
  expect(replay.code, replay.stderr).toBe(0);
  expect(replay.stdout).toContain(`replayed 1 push(es): ${expectedRefused.key}`);
  await until(
    () => scene.singer.deliveredKeys().has(expectedRefused.key),
    'the replayed push is delivered',
    30_000,
  );

  const requests = scene.singer.requests.filter(
    (r) => r.body.data.orderId === String(refusedOrder),
  );
  expect(requests.map((r) => [r.idempotencyKey, r.status])).toEqual([
    [expectedRefused.key, 400],
    [expectedRefused.key, 200],
  ]);
  // Its outcome is committed a moment after Singer's answer (outcomes share commits).
  const outcomeRow = async () =>
    (
      (await scene.db.knex('push_outcomes').where({
        idempotency_key: expectedRefused.key,
      })) as Array<{ outcome: string | null; attempts: number; singer_status: number }>
    )[0];
  await until(
    async () => (await outcomeRow())?.outcome === 'delivered',
    'the replayed push is settled',
  );
  expect(await listDeadLetters(scene.db.knex)).toEqual([]);
  const row = await outcomeRow();
  expect(row).toMatchObject({ outcome: 'delivered', attempts: 1, singer_status: 200 });
  expect(await tracedPushes(env, refusedOrder)).toMatchObject([
    { state: 'delivered', outcome: { outcome: 'delivered' } },
  ]);
}, 120_000);
