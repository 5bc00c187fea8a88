// Many pollers on one outbox (SPEC §1, §7): SKIP LOCKED gives each its own rows, every event is
// handed to BullMQ exactly once, an order's events are enqueued in id order even when two
// pollers hold neighbouring events of one order, and a failed enqueue loses nothing.
// Real MariaDB/MySQL (one database per test) and real BullMQ queues (one key prefix per test).
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_ORDER_COLUMNS,
  migrationContextOf,
  OUTBOX_TABLE,
} from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { handOffPushes } from '../../src/delivery/enqueue-pushes.js';
import { pushLedger, type PushLedger } from '../../src/delivery/push-ledger.js';
import {
  HAND_OFF_JOB,
  openDeliveryQueue,
  type DeliveryQueue,
  type HandOff,
} from '../../src/delivery/queues.js';
import { connectRedis } from '../../src/redis/redis-connection.js';
import { singleNodeRedis } from '../../src/redis/redis-settings.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { createLogger } from '../../src/logger.js';
import { claimBatch, toOrderEvent, type OutboxRow } from '../../src/outbox/claim-batch.js';
import { openClaimConnection, type ClaimConnection } from '../../src/outbox/claim-connection.js';
import { claimSkippedNothing } from '../../src/outbox/defer-out-of-order.js';
import { handOffBatch, type HandOffDeps } from '../../src/outbox/hand-off-batch.js';
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

const catalog = loadScenarioCatalog();
const logger = createLogger('silent');
const JOB_SETTINGS = {
  deliveryAttempts: 3,
  completedJobRetentionS: 3600,
  failedJobRetentionS: 3600,
};

/**
 * An order's life, one multi-row UPDATE per step over every order: each step records one
 * event per order, and most of them fire a push (SPEC §4: 2, 8, 13, 14, 15, 6, 9, 4).
 */
const LIFE: ReadonlyArray<{ status: string; reason: string | null }> = [
  { status: 'PAYING', reason: null },
  { status: 'AWAITING_ACCEPT', reason: null },
  { status: 'AWAITING_SERVICE', reason: null },
  { status: 'IN_SERVICE', reason: null },
  { status: 'SERVICE_OVERDUE', reason: null },
  { status: 'SERVICE_DONE', reason: null },
  { status: 'REFUND_REQUESTED', reason: null },
  { status: 'DISPUTE', reason: 'NURSE_REJECTED' },
  { status: 'REFUNDING', reason: 'REFUND_APPROVED' },
  { status: 'REFUNDED', reason: null },
];

let db: TestDatabase;
let prefix: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  db = await createTestDatabase('concurrent-pollers');
  prefix = testQueuePrefix('concurrent-pollers');
  await createOrderServiceTables(db.knex);
  await migrateLatest(
    db.knex,
    migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
  );
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await deleteQueueKeys(testRedisUrl(), prefix);
  await db.drop();
});

/**
 * A poller process's own resources: its claim connection, a Redis connection, the delivery
 * queue and the ledger on its connection, and its hand-off, as the service wires it.
 */
function openPoller(): {
  claims: ClaimConnection;
  queue: DeliveryQueue;
  ledger: PushLedger;
  handOff: (pushes: PushJob[]) => Promise<void>;
} {
  const claims = openClaimConnection(db.url, { idleTimeoutS: 60, queryTimeoutMs: 10_000 });
  const redis = connectRedis(singleNodeRedis(testRedisUrl()), 'fail-fast');
  const queue = openDeliveryQueue(redis, prefix, JOB_SETTINGS);
  const ledger = pushLedger(redis, { queuePrefix: prefix, ...JOB_SETTINGS });
  cleanups.push(
    () => claims.close(),
    async () => redis.disconnect(),
    () => queue.close(),
  );
  return { claims, queue, ledger, handOff: (pushes) => handOffPushes(ledger, queue, pushes) };
}

/**
 * Inserts `count` orders and walks them through `steps`, `groupSize` orders at a time with one
 * multi-row UPDATE per step. A small group puts an order's consecutive events only
 * `groupSize` ids apart, so two pollers' batches often hold neighbouring events of one order:
 * the case per-order ordering must survive.
 */
async function recordBacklog(count: number, steps: typeof LIFE, groupSize = count): Promise<void> {
  const knex = db.knex;
  const rows = Array.from({ length: count }, (_, i) => ({
    patient_id: 1_000 + i,
    nurse_id: i % 2 === 0 ? 7 : null,
    status: 'PENDING_PAYMENT',
  }));
  await knex('orders').insert(rows);
  const ids = ((await knex('orders').orderBy('id').pluck('id')) as Array<number | string>).map(
    Number,
  );
  for (let start = 0; start < ids.length; start += groupSize) {
    const group = ids.slice(start, start + groupSize);
    for (const step of steps) {
      await knex('orders')
        .whereIn('id', group)
        .update({ status: step.status, status_reason: step.reason });
    }
  }
}

/** Every outbox row as the poller reads it, and the pushes SPEC §4 says it makes. */
async function expectedPushKeys(knex: Knex): Promise<{ eventCount: number; keys: string[] }> {
  const rows = (await knex(OUTBOX_TABLE).orderBy('id').select()) as OutboxRow[];
  const keys = rows.flatMap((row) => {
    const event = toOrderEvent(row);
    return matchEvent(event, catalog).pushes.map((push) => push.idempotencyKey);
  });
  return { eventCount: rows.length, keys };
}

async function unclaimedCount(knex: Knex): Promise<number> {
  const [{ n }] = (await knex(OUTBOX_TABLE).whereNull('handed_off_at').count({ n: '*' })) as [
    { n: number | string },
  ];
  return Number(n);
}

/** The keys of the pushes waiting in the queue, in hand-off jobs or their own. */
async function pushKeysIn(queue: DeliveryQueue): Promise<string[]> {
  const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized', 'active'], 0, -1);
  return jobs.flatMap((job) =>
    job.name === HAND_OFF_JOB
      ? (job.data as HandOff).pushes.map((push) => push.idempotencyKey)
      : [String(job.id)],
  );
}

/**
 * Hands off batches until the outbox is empty; returns how many claimed events were left for
 * a later claim because an earlier event of their order was not handed off yet. A cycle that
 * claims nothing while rows remain means the other poller holds them: try again (they are
 * ours once it commits or rolls back).
 */
async function drain(deps: HandOffDeps, batchSize: number): Promise<number> {
  let deferred = 0;
  for (let cycle = 0; cycle < 10_000; cycle++) {
    const result = await handOffBatch(deps, batchSize);
    deferred += result.claimed - result.handedOff;
    if (result.claimed > 0) continue;
    if ((await unclaimedCount(db.knex)) === 0) return deferred;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the outbox did not drain within 10,000 cycles');
}

/** Resolves for every caller once `parties` callers have arrived. */
function rendezvous(parties: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const everyone = new Promise<void>((resolve) => (release = resolve));
  return async () => {
    arrived += 1;
    if (arrived === parties) release();
    await everyone;
  };
}

describe('concurrent pollers', () => {
  it('hand every event to BullMQ exactly once, each order in event order, when two poll one backlog', async () => {
    await recordBacklog(200, LIFE, 20);
    const expected = await expectedPushKeys(db.knex);
    expect(expected.eventCount).toBe(2_000);

    // Enqueue order across both pollers, as BullMQ accepted it.
    const enqueued: Array<{ poller: string; push: PushJob }> = [];
    // The pollers' first cycles surely overlap: each waits in its first enqueue (claim held,
    // ordering check done) until the other is there too. Whichever claimed second then holds
    // events whose predecessors the other holds, the case per-order ordering must handle.
    const bothHoldAClaim = rendezvous(2);
    const pollers = ['A', 'B'].map((name) => {
      const { claims, queue, handOff } = openPoller();
      let firstCycle = true;
      const deps: HandOffDeps = {
        claims,
        catalog,
        logger,
        enqueue: async (pushes) => {
          if (firstCycle) {
            firstCycle = false;
            await bothHoldAClaim();
          } else if (Math.random() < 0.5) {
            // Hold the claim a varying moment, so the batches interleave differently each run.
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
          await handOff(pushes);
          for (const push of pushes) enqueued.push({ poller: name, push });
        },
      };
      return { name, deps, queue };
    });

    const deferred = await Promise.all(pollers.map(({ deps }) => drain(deps, 50)));

    expect(await unclaimedCount(db.knex)).toBe(0);
    const keys = enqueued.map(({ push }) => push.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length); // no push handed off twice
    expect([...keys].sort()).toEqual([...expected.keys].sort());
    const queued = await pushKeysIn(pollers[0]!.queue);
    expect(queued.length).toBe(expected.keys.length);
    expect([...queued].sort()).toEqual([...expected.keys].sort());
    // Both pollers took part, and they did contend for one order's events (otherwise the
    // ordering check below would prove nothing).
    expect(new Set(enqueued.map(({ poller }) => poller))).toEqual(new Set(['A', 'B']));
    expect(deferred[0]! + deferred[1]!).toBeGreaterThan(0);

    const eventIdsByOrder = new Map<string, bigint[]>();
    for (const { push } of enqueued) {
      const ids = eventIdsByOrder.get(push.event.orderId) ?? [];
      ids.push(BigInt(push.event.eventId));
      eventIdsByOrder.set(push.event.orderId, ids);
    }
    expect(eventIdsByOrder.size).toBe(200);
    for (const [orderId, ids] of eventIdsByOrder) {
      const outOfOrder = ids.findIndex((id, i) => i > 0 && id < ids[i - 1]!);
      expect(outOfOrder, `order ${orderId} enqueued events ${ids.join(', ')}`).toBe(-1);
    }
  });

  it('leaves the rows unclaimed when enqueueing fails, and a later cycle hands them off', async () => {
    await recordBacklog(20, LIFE.slice(0, 3));
    const expected = await expectedPushKeys(db.knex);
    const { claims, queue, ledger, handOff } = openPoller();
    const deps = (enqueue: HandOffDeps['enqueue']): HandOffDeps => ({
      claims,
      catalog,
      logger,
      enqueue,
    });

    // Redis refuses before anything reached BullMQ.
    await expect(
      handOffBatch(
        deps(async () => {
          throw new Error('Redis is down');
        }),
        100,
      ),
    ).rejects.toThrow('Redis is down');
    expect(await unclaimedCount(db.knex)).toBe(expected.eventCount);
    expect(await pushKeysIn(queue)).toEqual([]);

    // BullMQ took the jobs, then the poller failed before its commit (the crash window).
    await expect(
      handOffBatch(
        deps(async (pushes) => {
          await handOff(pushes);
          throw new Error('lost the MySQL connection');
        }),
        100,
      ),
    ).rejects.toThrow('lost the MySQL connection');
    expect(await unclaimedCount(db.knex)).toBe(expected.eventCount);

    const firstHolders = await ledger.holders(expected.keys);
    const later = await handOffBatch(deps(handOff), 100);

    expect(later).toMatchObject({ claimed: expected.eventCount, handedOff: expected.eventCount });
    expect(await unclaimedCount(db.knex)).toBe(0);
    // Handing the same events off again added nothing: each push once in the queue, still
    // held by the first hand-off.
    expect((await pushKeysIn(queue)).sort()).toEqual([...expected.keys].sort());
    expect(firstHolders.every((holder) => holder?.startsWith('hand-off-'))).toBe(true);
    expect(await ledger.holders(expected.keys)).toEqual(firstHolders);
  });

  it('lets a second claimer take other rows at once while a first holds its claim open', async () => {
    await recordBacklog(30, LIFE.slice(0, 1));
    const held = openPoller().claims;
    const other = openPoller().claims;
    const allIds = (
      (await db.knex(OUTBOX_TABLE).orderBy('id').pluck('id')) as Array<string | number>
    ).map(String);
    expect(allIds).toHaveLength(30);

    try {
      const first = await claimBatch(held, 10);
      // Were the second claim to wait for the first's locks instead of skipping them, it
      // would fail with ER_LOCK_WAIT_TIMEOUT after a second rather than return rows.
      await other.query('SET SESSION innodb_lock_wait_timeout = 1');
      const second = await claimBatch(other, 10);

      expect(first.events.map((e) => e.eventId)).toEqual(allIds.slice(0, 10));
      expect(second.events.map((e) => e.eventId)).toEqual(allIds.slice(10, 20));
      // Both read the same head of the backlog: the first claim's rows. So the first
      // skipped nothing and may skip the ordering query; the second skipped them and may not.
      expect(first.waitingHead).toEqual(allIds.slice(0, 10));
      expect(second.waitingHead).toEqual(allIds.slice(0, 10));
      expect(claimSkippedNothing(first.events, first.waitingHead)).toBe(true);
      expect(claimSkippedNothing(second.events, second.waitingHead)).toBe(false);
    } finally {
      await other.query('ROLLBACK');
      await held.query('ROLLBACK');
    }
    // Rolled back, both claims are free again: nothing was handed off.
    expect(await unclaimedCount(db.knex)).toBe(30);
  });
});
