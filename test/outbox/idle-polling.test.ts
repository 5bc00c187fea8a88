// A quiet poller must leave the order service's database nearly alone (issue: idle cost) and
// still pick up the first change after a silence. Real MariaDB and a real BullMQ queue; the
// loop's own cycle callback counts how often it looked.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { handOffPushes } from '../../src/delivery/enqueue-pushes.js';
import { pushLedger } from '../../src/delivery/push-ledger.js';
import { openDeliveryQueue, type DeliveryQueue } from '../../src/delivery/queues.js';
import { connectRedis } from '../../src/redis/redis-connection.js';
import { singleNodeRedis } from '../../src/redis/redis-settings.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { createLogger } from '../../src/logger.js';
import { startPollLoop, type PollLoop } from '../../src/outbox/poll-loop.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { eventually } from '../support/pipeline-harness.js';
import {
  createTestDatabase,
  deleteQueueKeys,
  testQueuePrefix,
  testRedisUrl,
  type TestDatabase,
} from '../support/test-database.js';

const POLL_INTERVAL_MS = 5;
const IDLE_POLL_INTERVAL_MS = 100;

let db: TestDatabase;
let queue: DeliveryQueue;
let loop: PollLoop;
let redis: ReturnType<typeof connectRedis>;
const prefix = testQueuePrefix('idle-polling');
const cycles: Array<{ at: number; claimed: number }> = [];

beforeAll(async () => {
  db = await createTestDatabase('idle-polling');
  await createOrderServiceTables(db.knex);
  await migrateLatest(
    db.knex,
    migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
  );
  redis = connectRedis(singleNodeRedis(testRedisUrl()), 'fail-fast');
  queue = openDeliveryQueue(redis, prefix, {
    deliveryAttempts: 3,
    completedJobRetentionS: 3600,
    failedJobRetentionS: 3600,
  });
  loop = startPollLoop(
    {
      databaseUrl: db.url,
      catalog: loadScenarioCatalog(),
      logger: createLogger('silent'),
      enqueue: (pushes) =>
        handOffPushes(
          pushLedger(redis, { queuePrefix: prefix, completedJobRetentionS: 3600 }),
          queue,
          pushes,
        ),
      onCycle: (result) => cycles.push({ at: Date.now(), claimed: result.claimed }),
    },
    {
      batchSize: 100,
      pollIntervalMs: POLL_INTERVAL_MS,
      idlePollIntervalMs: IDLE_POLL_INTERVAL_MS,
      errorBackoffMaxMs: 1000,
      claimTimeoutS: 60,
      queryTimeoutMs: 10_000,
    },
  );
});

afterAll(async () => {
  await loop?.stop();
  await queue?.close();
  redis?.disconnect();
  await deleteQueueKeys(testRedisUrl(), prefix);
  await db?.drop();
});

it('backs off to the idle interval when quiet and snaps back at the first change', async () => {
  // Quiet for 2 s: at the 5 ms busy interval that would be ~400 looks; backed off, ~20.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const quietStart = Date.now() - 1_500;
  const quietLooks = cycles.filter((cycle) => cycle.at >= quietStart).length;
  expect(quietLooks).toBeGreaterThan(0);
  expect(quietLooks).toBeLessThanOrEqual(Math.ceil(1_500 / IDLE_POLL_INTERVAL_MS) + 2);

  // The first change after the silence is claimed and handed to BullMQ.
  const [id] = await db.knex('orders').insert({ patient_id: 98, status: 'PAYING' });
  await db.knex('orders').where({ id }).update({ status: 'AWAITING_ACCEPT' });
  const found = await eventually(
    () => cycles.find((cycle) => cycle.claimed > 0),
    10_000,
    () => 'the poller never claimed the change',
  );
  await eventually(
    async () => (((await queue.getJobCounts('waiting')).waiting ?? 0) > 0 ? true : undefined),
    10_000,
    () => 'no push reached the delivery queue',
  );

  // Right after it, the loop looks again at the busy interval, not the idle one: the next
  // few looks come in quick succession (at most a few ms each on an idle machine; the bound
  // here only separates "doubling from 5 ms" from "still at 100 ms").
  await eventually(
    () => (cycles.filter((cycle) => cycle.at > found.at).length >= 3 ? true : undefined),
    10_000,
    () => 'the loop stopped looking after the change',
  );
  const [a, , c] = cycles.filter((cycle) => cycle.at > found.at);
  expect(c!.at - a!.at).toBeLessThan(2 * IDLE_POLL_INTERVAL_MS);
});
