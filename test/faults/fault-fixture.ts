// What every fault test needs around the real `push start` processes: its own database (order
// service tables, nurses, push's migrations), its own BullMQ prefix, a stand-in Singer whose
// answers the test controls, an order service that writes status changes, and the bookkeeping
// that turns what Singer saw into the figures SPEC §7 is about: lost, duplicates, out of order.
import knexFactory, { type Knex } from 'knex';
import { loadConfig } from '../../src/config.js';
import { migrationContextOf, DEFAULT_ORDER_COLUMNS } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { orderTurnKey, pushLedger } from '../../src/delivery/push-ledger.js';
import { openDeliveryQueue } from '../../src/delivery/queues.js';
import { assertRedisReachable, connectRedis } from '../../src/redis/redis-connection.js';
import type { RedisSettings } from '../../src/redis/redis-settings.js';
import {
  createOrderServiceTables,
  insertSampleNurses,
} from '../../src/demo/order-service-schema.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import {
  startStubSinger,
  type ReceivedPush,
  type StubAnswer,
  type StubResponder,
  type StubSinger,
} from '../../src/singer/stub-singer.js';
import {
  startServiceProcess,
  sleep,
  stopAllServiceProcesses,
  type ServiceProcess,
} from '../support/service-process.js';
import { mysqlLogin } from '../support/mysql-login.js';
import {
  createTestDatabase,
  deleteQueueKeys,
  testQueuePrefix,
  testRedisUrl,
  type TestDatabase,
} from '../support/test-database.js';
import { toOrderEvent, type OutboxRow } from '../../src/outbox/claim-batch.js';

/**
 * The walk every test order takes, over and over; each step fires exactly one scenario, so each
 * change is one event and one push:
 * IN_SERVICE → SERVICE_OVERDUE (14) → SERVICE_DONE (15) → REFUND_REQUESTED (6)
 * → DISPUTE/NURSE_REJECTED (9) → IN_SERVICE/REFUND_REJECTED (11) → …
 */
export const LIFECYCLE: ReadonlyArray<{ status: string; reason: string | null }> = [
  { status: 'SERVICE_OVERDUE', reason: null },
  { status: 'SERVICE_DONE', reason: null },
  { status: 'REFUND_REQUESTED', reason: null },
  { status: 'DISPUTE', reason: 'NURSE_REJECTED' },
  { status: 'IN_SERVICE', reason: 'REFUND_REJECTED' },
];

export interface ExpectedPush {
  key: string;
  orderId: string;
  eventId: bigint;
}

export interface Figures {
  events: number;
  pushes: number;
  kills: number;
  lost: number;
  duplicates: number;
  /** Keys Singer got that no event calls for. */
  unexpected: number;
  /** Orders whose pushes first reached Singer out of event order. */
  outOfOrder: number;
}

export interface FaultScene {
  db: TestDatabase;
  /** The order service's connections (kept apart from push's, e.g. to KILL only push's). */
  orderService: Knex;
  /** MySQL thread ids of the order service's connections. */
  orderServiceThreads: Set<number>;
  singer: StubSinger;
  /** REDIS_URL, or the whole `redisEnv` the scene was created with, for every service. */
  redisEnv: Record<string, string>;
  redis: RedisSettings;
  queuePrefix: string;
  /** Replaces how the stand-in Singer answers (default: 200 at once). */
  setRespond(respond: StubResponder | undefined): void;
  /** Starts `push start` on this scene's database, Redis, prefix and Singer. */
  startService(name: string, env?: Record<string, string>): Promise<ServiceProcess>;
  /** Inserts `count` orders in IN_SERVICE with a nurse (no event yet: the trigger fires on UPDATE). */
  createOrders(count: number): Promise<number[]>;
  /**
   * Walks each order `steps` steps further along LIFECYCLE: steps × orders UPDATEs, each its own
   * transaction, `parallel` at a time, each order's changes in sequence. Calls `onProgress` with
   * the number of changes committed so far.
   */
  changeOrders(
    orderIds: number[],
    steps: number,
    options?: { parallel?: number; onProgress?: (done: number) => void | Promise<void> },
  ): Promise<number>;
  /** Every push the outbox calls for, from the events the trigger recorded. */
  expectedPushes(): Promise<ExpectedPush[]>;
  /** Waits until Singer accepted every expected push (or `timeoutMs` passes); then the figures. */
  waitForDelivery(kills: number, timeoutMs?: number): Promise<Figures>;
  figures(expected: ExpectedPush[], kills: number): Figures;
  /** What a failing test should print: where the missing pushes are, and the processes' output. */
  diagnose(missing: ExpectedPush[]): Promise<string>;
  /** Outbox rows not stamped handed_off_at. */
  unhandedRows(): Promise<number>;
  /** Stops every process, the stub, drops the database and the queue keys. */
  destroy(): Promise<void>;
}

export interface FaultSceneOptions {
  /** A Redis of the test's own (default: the shared test Redis). */
  redisUrl?: string;
  /**
   * Any REDIS_* settings instead (a cluster, a sentinel group, credentials, TLS) for every
   * service, and QUEUE_PREFIX when the topology needs a hash tag.
   */
  redisEnv?: Record<string, string>;
  /** Root on a private server the test started (its path is ignored); default the shared one. */
  serverUrl?: string;
  /**
   * Who the order service is and who installs push's trigger: the application account (the
   * default, as in production), or root for a test in which the order service must go on writing
   * while `read_only` refuses push's account. A trigger runs with its definer's privileges, so
   * under read_only an UPDATE passes only if the trigger's definer, too, may write.
   */
  orderServiceAccount?: 'app' | 'root';
}

export async function createFaultScene(
  label: string,
  options: FaultSceneOptions = {},
): Promise<FaultScene> {
  const { QUEUE_PREFIX, ...redisEnv } = options.redisEnv ?? {
    REDIS_URL: options.redisUrl ?? testRedisUrl(),
  };
  const queuePrefix = QUEUE_PREFIX ?? testQueuePrefix(label);
  const redis = loadConfig({ ...redisEnv, QUEUE_PREFIX: queuePrefix }).redis;
  const db = await createTestDatabase(label, { serverUrl: options.serverUrl });
  const orderServiceUrl = options.orderServiceAccount === 'root' ? db.adminUrl : db.url;
  const installer = knexFactory({
    client: 'mysql2',
    connection: mysqlLogin(orderServiceUrl) as Knex.MySql2ConnectionConfig,
    pool: { min: 0, max: 1 },
  });
  try {
    await createOrderServiceTables(installer);
    await insertSampleNurses(installer);
    await migrateLatest(
      installer,
      migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
    );
  } finally {
    await installer.destroy();
  }

  const orderServiceThreads = new Set<number>();
  const orderService = knexFactory({
    client: 'mysql2',
    connection: mysqlLogin(orderServiceUrl) as Knex.MySql2ConnectionConfig,
    pool: {
      min: 0,
      max: 8,
      afterCreate(
        conn: {
          query: (
            sql: string,
            cb: (err: Error | null, rows: Array<{ id: number }>) => void,
          ) => void;
        },
        done: (err: Error | null, conn: unknown) => void,
      ) {
        conn.query('SELECT CONNECTION_ID() AS id', (err, rows) => {
          if (!err && rows[0]) orderServiceThreads.add(Number(rows[0].id));
          done(err, conn);
        });
      },
    },
  });

  let respond: StubResponder | undefined;
  const singer = await startStubSinger({
    respond: (push, attempt): StubAnswer | Promise<StubAnswer> =>
      respond ? respond(push, attempt) : { status: 200 },
  });
  const catalog = loadScenarioCatalog();
  const step = new Map<number, number>();
  const started: ServiceProcess[] = [];

  const scene: FaultScene = {
    db,
    orderService,
    orderServiceThreads,
    singer,
    redisEnv,
    redis,
    queuePrefix,
    setRespond(next) {
      respond = next;
    },
    async startService(name, env = {}) {
      const service = await startServiceProcess({
        name,
        databaseUrl: db.url,
        redisUrl: redisEnv.REDIS_URL ?? testRedisUrl(),
        singerUrl: singer.url,
        queuePrefix,
        env: { ...redisEnv, ...env },
      });
      started.push(service);
      return service;
    },
    async createOrders(count) {
      const rows = Array.from({ length: count }, (_, i) => ({
        patient_id: 1000 + i,
        nurse_id: 7 + (i % 3),
        status: 'IN_SERVICE',
        status_reason: null,
      }));
      await orderService('orders').insert(rows);
      const ids = (await orderService('orders').select('id').orderBy('id')) as Array<{
        id: number | string;
      }>;
      const created = ids.map((row) => Number(row.id)).slice(-count);
      for (const id of created) step.set(id, 0);
      return created;
    },
    async changeOrders(orderIds, steps, { parallel = 8, onProgress } = {}) {
      let done = 0;
      // `parallel` lanes; each lane owns some orders and walks them round by round, so every
      // order's changes commit in sequence while many orders change at once.
      const lanes = Array.from({ length: parallel }, (_, lane) =>
        orderIds.filter((_, index) => index % parallel === lane),
      );
      await Promise.all(
        lanes.map(async (lane) => {
          for (let round = 0; round < steps; round++) {
            for (const orderId of lane) {
              const at = step.get(orderId) ?? 0;
              const next = LIFECYCLE[at % LIFECYCLE.length];
              if (!next) throw new Error('empty lifecycle');
              await orderService.raw(
                'UPDATE orders SET status = ?, status_reason = ? WHERE id = ?',
                [next.status, next.reason, orderId],
              );
              step.set(orderId, at + 1);
              done += 1;
              await onProgress?.(done);
            }
          }
        }),
      );
      return done;
    },
    async expectedPushes() {
      const rows = (await orderService('order_events').select('*').orderBy('id')) as OutboxRow[];
      return rows.flatMap((row) =>
        matchEvent(toOrderEvent(row), catalog).pushes.map((push) => ({
          key: push.idempotencyKey,
          orderId: String(row.order_id),
          eventId: BigInt(row.id),
        })),
      );
    },
    async waitForDelivery(kills, timeoutMs = 40_000) {
      const expected = await scene.expectedPushes();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const delivered = singer.deliveredKeys();
        if (expected.every((push) => delivered.has(push.key)) || Date.now() > deadline) break;
        await sleep(100);
      }
      // Whatever was still on its way (a re-sent duplicate) has had a moment to arrive.
      await sleep(300);
      const figures = scene.figures(expected, kills);
      if (figures.lost > 0) {
        const delivered = singer.deliveredKeys();
        console.log(await scene.diagnose(expected.filter((push) => !delivered.has(push.key))));
      }
      return figures;
    },
    figures(expected, kills) {
      return countFigures(expected, singer.requests, kills);
    },
    async diagnose(missing) {
      const lines = [
        `${missing.length} pushes missing; ${await scene.unhandedRows()} outbox rows not handed off`,
      ];
      const client = connectRedis(redis, 'fail-fast');
      const queue = openDeliveryQueue(client, queuePrefix, {
        deliveryAttempts: 1,
        completedJobRetentionS: 1,
        failedJobRetentionS: 1,
      });
      try {
        await assertRedisReachable(client, redis);
        lines.push(`jobs: ${JSON.stringify(await queue.getJobCounts())}`);
        const ledger = pushLedger(client, { queuePrefix, completedJobRetentionS: 1 });
        for (const push of missing.slice(0, 10)) {
          const job = await queue.getJob(push.key);
          const turns = await client.zrange(orderTurnKey(queuePrefix, push.orderId), 0, -1);
          const [holder] = await ledger.holders([push.key]);
          lines.push(
            `  ${push.key} (order ${push.orderId}): job ${await queue.getJobState(push.key)}, ` +
              `held by ${holder ?? '-'}, ` +
              `attempts ${job?.attemptsMade ?? '-'}, failed: ${job?.failedReason ?? '-'}; turns [${turns.join(', ')}]`,
          );
        }
      } catch (err) {
        lines.push(`(could not read the queue: ${(err as Error).message})`);
      } finally {
        await queue.close().catch(() => {});
        client.disconnect();
      }
      for (const service of started) {
        const output = service.output().trimEnd().split('\n').slice(-15).join('\n');
        lines.push(
          `--- ${service.name} (pid ${service.pid}, exit ${JSON.stringify(service.exitStatus ?? 'running')}):`,
          output,
        );
      }
      return lines.join('\n');
    },
    async unhandedRows() {
      const [rows] = (await orderService.raw(
        'SELECT COUNT(*) AS n FROM order_events WHERE handed_off_at IS NULL',
      )) as [Array<{ n: number | string }>];
      return Number(rows[0]?.n ?? 0);
    },
    async destroy() {
      await stopAllServiceProcesses();
      await singer.close().catch(() => {});
      await orderService.destroy().catch(() => {});
      await db.drop().catch(() => {});
      await deleteQueueKeys(redis, queuePrefix).catch(() => {});
    },
  };
  return scene;
}

/**
 * lost: expected keys Singer never accepted. duplicates: requests beyond the first accepted one
 * per key (what Singer drops by key). outOfOrder: orders whose keys first arrived out of event order.
 */
export function countFigures(
  expected: ExpectedPush[],
  requests: ReceivedPush[],
  kills: number,
): Figures {
  const accepted = requests.filter((r) => r.status >= 200 && r.status < 300);
  const firstArrival = new Map<string, number>();
  accepted.forEach((request, index) => {
    if (!firstArrival.has(request.idempotencyKey)) firstArrival.set(request.idempotencyKey, index);
  });
  const expectedKeys = new Set(expected.map((push) => push.key));
  const byOrder = new Map<string, ExpectedPush[]>();
  for (const push of expected) {
    const list = byOrder.get(push.orderId) ?? [];
    list.push(push);
    byOrder.set(push.orderId, list);
  }
  let outOfOrder = 0;
  for (const pushes of byOrder.values()) {
    const arrived = pushes
      .filter((push) => firstArrival.has(push.key))
      .sort((a, b) => (firstArrival.get(a.key) ?? 0) - (firstArrival.get(b.key) ?? 0));
    if (arrived.some((push, i) => i > 0 && push.eventId < (arrived[i - 1]?.eventId ?? 0n))) {
      outOfOrder += 1;
      console.log(
        `[faults] order ${arrived[0]?.orderId} arrived out of order: ` +
          arrived
            .map((push) => {
              const request = accepted[firstArrival.get(push.key) ?? 0];
              return `${push.key}@${request?.receivedAt}`;
            })
            .join(', '),
      );
    }
  }
  return {
    events: new Set(expected.map((push) => push.eventId)).size,
    pushes: expected.length,
    kills,
    lost: expected.filter((push) => !firstArrival.has(push.key)).length,
    duplicates: accepted.length - firstArrival.size,
    unexpected: [...firstArrival.keys()].filter((key) => !expectedKeys.has(key)).length,
    outOfOrder,
  };
}

/**
 * The longest time Singer heard nothing, from `since` until its last request: how long a fault
 * held deliveries up before the service resumed by itself.
 */
export function longestSilenceMs(requests: ReceivedPush[], since: number): number {
  return longestSilence(requests, since).ms;
}

/** The longest gap between pushes reaching Singer after `since`, and when it ended. */
function longestSilence(requests: ReceivedPush[], since: number): { ms: number; endedAt: number } {
  let longest = { ms: 0, endedAt: since };
  let previous = since;
  for (const { receivedAt } of requests) {
    if (receivedAt < since) continue;
    if (receivedAt - previous > longest.ms)
      longest = { ms: receivedAt - previous, endedAt: receivedAt };
    previous = receivedAt;
  }
  return longest;
}

/** The one-line summary the issue asks for, one per case. */
export function report(caseName: string, figures: Figures): void {
  console.log(
    `[faults] ${caseName}: events ${figures.events}, kills ${figures.kills}, lost ${figures.lost}, ` +
      `duplicates ${figures.duplicates} (pushes ${figures.pushes}, unexpected keys ${figures.unexpected}, ` +
      `orders out of order ${figures.outOfOrder})`,
  );
}

/** Polls until `probe` returns true; fails after `timeoutMs` with `what`. */
export async function until(
  probe: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(25);
  }
}

/** Waits until push_attempts holds a delivered attempt for each of `pushes` distinct pushes. */
export async function untilEveryDeliveryIsTraced(scene: FaultScene, pushes: number): Promise<void> {
  await until(async () => {
    const [rows] = (await scene.orderService.raw(
      "SELECT COUNT(DISTINCT idempotency_key) AS n FROM push_attempts WHERE outcome = 'delivered'",
    )) as [Array<{ n: number | string }>];
    return Number(rows[0]?.n) === pushes;
  }, 'every delivery is written to push_attempts');
}

/** A failover as the tests see it: which node was master, which is now, and when it was done. */
export interface Failover {
  from: number;
  to: number;
  at: number;
}

/**
 * Changes every order `steps` times and, once `after` changes have committed, starts
 * `failOver` (while the burst goes on). Resolves when both are done, with the failover and
 * when it began.
 */
export async function changeOrdersThroughFailover(
  scene: FaultScene,
  orderIds: number[],
  steps: number,
  after: number,
  failOver: () => Promise<{ from: number; to: number }>,
): Promise<{ moved: Failover | undefined; startedAt: number }> {
  let failover: Promise<Failover> | undefined;
  let startedAt = 0;
  await scene.changeOrders(orderIds, steps, {
    onProgress: (done) => {
      if (done < after || failover) return;
      startedAt = Date.now();
      failover = failOver().then((moved) => ({ ...moved, at: Date.now() }));
      failover.catch(() => {}); // awaited below; not unhandled meanwhile
    },
  });
  return { moved: await failover, startedAt };
}

/**
 * How many pushes reached Singer after the new master took over; logs it with the longest
 * silence. Taken over: when the test saw the promotion, or, if deliveries stopped for over a
 * second after the failover began (the old master gone), when they resumed — the service may
 * find the new master before the test's own poll of the sentinels does.
 */
export function pushesAfterFailover(
  scene: FaultScene,
  moved: Failover | undefined,
  startedAt: number,
): number {
  const { requests } = scene.singer;
  const silence = longestSilence(requests, startedAt);
  const silenceMs = silence.ms;
  const takenOverAt = Math.min(moved?.at ?? 0, silenceMs > 1_000 ? silence.endedAt : Infinity);
  const after = requests.filter((r) => r.receivedAt >= takenOverAt).length;
  console.log(
    `[redis] ${after} pushes reached Singer after the new master took over; longest silence ${silenceMs} ms`,
  );
  return after;
}
