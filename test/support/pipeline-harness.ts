// The whole pipeline in one test process, on real MariaDB and Redis: the order service's tables,
// the migrations, a stub Singer, and startService() — the same composition root `push start`
// runs. Each pipeline gets its own database and queue prefix; stop() removes all of it.
// `env` may point it at another Redis (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS, …, and a
// QUEUE_PREFIX of its own); the harness's own Redis connections follow the same settings.
import type { Knex } from 'knex';
import { loadConfig, type Config } from '../../src/config.js';
import { migrationContextOf } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import type { ReplayDeps } from '../../src/delivery/dead-letter.js';
import { pushLedger } from '../../src/delivery/push-ledger.js';
import { listDeadLetters, type DeadLetter } from '../../src/outcomes/dead-letter-rows.js';
import {
  createOrderServiceTables,
  insertSampleNurses,
} from '../../src/demo/order-service-schema.js';
import { createLogger } from '../../src/logger.js';
import type { Logger } from 'pino';
import { startService, type Service } from '../../src/main.js';
import { connectRedis, type RedisClient } from '../../src/redis/redis-connection.js';
import {
  startStubSinger,
  type ReceivedPush,
  type StubResponder,
  type StubSinger,
} from '../../src/singer/stub-singer.js';
import {
  createTestDatabase,
  deleteQueueKeys,
  testQueuePrefix,
  testRedisUrl,
} from './test-database.js';

/** Long enough for a loaded CI machine; a healthy pipeline needs tens of milliseconds. */
const DEFAULT_WAIT_MS = 20_000;

export interface PipelineOptions {
  /** How the stub Singer answers; default 200. Can be swapped later with setRespond(). */
  respond?: StubResponder;
  /**
   * Extra or overriding environment for loadConfig(). SINGER_TOKEN also arms the stub; the
   * REDIS_* settings and QUEUE_PREFIX move the queues, and the harness follows them.
   */
  env?: Record<string, string>;
  /** Where the service logs; default nowhere. */
  logger?: Logger;
  /** Creates `orders` the order service's way before the demo schema fills in the rest. */
  createOrders?: (knex: Knex) => Promise<void>;
}

export interface NewOrder {
  patientId: number;
  nurseId?: number | null;
  status: string;
  reason?: string | null;
}

export interface Pipeline {
  knex: Knex;
  singer: StubSinger;
  service: Service;
  config: Config;
  queuePrefix: string;
  /** Inserts an order (no event: the trigger fires on UPDATE only); returns its id. */
  createOrder(order: NewOrder): Promise<number>;
  /**
   * What the order service does: one plain UPDATE of status and status_reason (NULL when no
   * reason is given), plus any other columns in `extra` (e.g. `{ nurse_id: 7 }`).
   */
  setStatus(
    orderId: number,
    status: string,
    reason?: string | null,
    extra?: Record<string, string | number | null>,
  ): Promise<void>;
  /** Resolves with the pushes Singer accepted (2xx) once there are at least `count`. */
  waitForPushes(
    count: number,
    filter?: { orderId?: number },
    timeoutMs?: number,
  ): Promise<ReceivedPush[]>;
  /** Pushes Singer accepted (2xx) so far, optionally for one order only. */
  deliveredPushes(filter?: { orderId?: number }): ReceivedPush[];
  /** Every request Singer received for an order (any answer), in the order answered. */
  requestsFor(orderId: number): ReceivedPush[];
  /** Resolves once MySQL holds at least `count` dead letters. */
  waitForDeadLetters(count: number, timeoutMs?: number): Promise<DeadLetter[]>;
  /**
   * Resolves once nothing is in flight: every outbox row is handed off, and no delivery job
   * waits, runs or sits delayed (a retry or an order's turn). Call it after the changes of
   * interest have committed.
   */
  waitUntilIdle(timeoutMs?: number): Promise<void>;
  /** Changes how the stub answers from the next request on. */
  setRespond(respond: StubResponder | undefined): void;
  /** What `push dlq replay` needs: this pipeline's queues and a Redis connection. */
  replayDeps(): ReplayDeps;
  /** Stops the service and the stub, drops the database, deletes the queue keys. Idempotent. */
  stop(): Promise<void>;
}

export async function startPipeline(
  label: string,
  options: PipelineOptions = {},
): Promise<Pipeline> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const runCleanups = async () => {
    // Reverse order: the service before the stub it calls, the queues' keys after the service.
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => errors.push(err));
    }
    cleanups.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, `stopping pipeline ${label} failed`);
  };

  try {
    const db = await createTestDatabase(label);
    cleanups.push(() => db.drop());
    const { knex } = db;
    await options.createOrders?.(knex);
    await createOrderServiceTables(knex);
    await insertSampleNurses(knex);

    let respond = options.respond;
    const singer = await startStubSinger({
      token: options.env?.SINGER_TOKEN,
      respond: (push, attempt) => (respond ? respond(push, attempt) : { status: 200 }),
    });
    cleanups.push(() => singer.close());

    const config = loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      SINGER_URL: singer.url,
      QUEUE_PREFIX: testQueuePrefix(label),
      PORT: '0',
      HOST: '127.0.0.1',
      POLL_INTERVAL_MS: '10',
      DELIVERY_BACKOFF_BASE_MS: '50',
      DELIVERY_BACKOFF_MAX_MS: '200',
      ORDER_WAIT_MS: '20',
      LOG_LEVEL: 'silent',
      ...options.env,
    });
    const { queuePrefix } = config;
    cleanups.push(() => deleteQueueKeys(config.redis, queuePrefix));
    await migrateLatest(knex, migrationContextOf(config));

    const service = await startService(config, {
      logger: options.logger ?? createLogger('silent'),
    });
    cleanups.push(() => service.stop());

    let replayRedis: RedisClient | undefined;
    cleanups.push(async () => replayRedis?.disconnect());

    const isDelivered = (push: ReceivedPush) => push.status >= 200 && push.status < 300;
    const ofOrder = (orderId: number | undefined) => (push: ReceivedPush) =>
      orderId === undefined || push.body.data.orderId === String(orderId);
    const deliveredPushes = (filter: { orderId?: number } = {}) =>
      singer.requests.filter(isDelivered).filter(ofOrder(filter.orderId));

    let stopping: Promise<void> | undefined;
    return {
      knex,
      singer,
      service,
      config,
      queuePrefix,

      async createOrder({ patientId, nurseId = null, status, reason = null }) {
        const [id] = await knex('orders').insert({
          patient_id: patientId,
          nurse_id: nurseId,
          status,
          status_reason: reason,
        });
        if (typeof id !== 'number') throw new Error('INSERT INTO orders returned no id');
        return id;
      },

      async setStatus(orderId, status, reason = null, extra = {}) {
        const columns = Object.keys(extra);
        await knex.raw(
          `UPDATE orders SET status = ?, status_reason = ?${columns.map(() => ', ?? = ?').join('')} WHERE id = ?`,
          [status, reason, ...columns.flatMap((c) => [c, extra[c] ?? null]), orderId],
        );
      },

      waitForPushes(count, filter = {}, timeoutMs = DEFAULT_WAIT_MS) {
        return eventually(
          () => {
            const pushes = deliveredPushes(filter);
            return pushes.length >= count ? pushes : undefined;
          },
          timeoutMs,
          () =>
            `Singer accepted ${deliveredPushes(filter).length} of ${count} pushes ${describeFilter(filter)}`,
        );
      },

      deliveredPushes,

      requestsFor: (orderId) => singer.requests.filter(ofOrder(orderId)),

      waitForDeadLetters(count, timeoutMs = DEFAULT_WAIT_MS) {
        let last: DeadLetter[] = [];
        return eventually(
          async () => {
            last = await listDeadLetters(knex);
            return last.length >= count ? last : undefined;
          },
          timeoutMs,
          () => `MySQL holds ${last.length} of ${count} dead letters`,
        );
      },

      async waitUntilIdle(timeoutMs = DEFAULT_WAIT_MS) {
        let state = '';
        await eventually(
          async () => {
            // Outbox first: the poller adds a row's jobs before it stamps the row, so once no
            // row is unstamped, every job of every earlier event is already in the queue.
            const [rows] = (await knex.raw(
              'SELECT COUNT(*) AS pending FROM order_events WHERE handed_off_at IS NULL',
            )) as [Array<{ pending: number | string }>];
            const pending = Number(rows[0]?.pending ?? 0);
            const counts = await service.deliveries.getJobCounts(
              'waiting',
              'active',
              'delayed',
              'prioritized',
              'waiting-children',
              'paused',
            );
            const inQueue = Object.values(counts).reduce((sum, n) => sum + n, 0);
            state = `${pending} outbox rows not handed off, jobs ${JSON.stringify(counts)}`;
            return pending === 0 && inQueue === 0 ? true : undefined;
          },
          timeoutMs,
          () => `the pipeline is not idle: ${state}`,
        );
      },

      setRespond(next) {
        respond = next;
      },

      replayDeps() {
        replayRedis ??= connectRedis(config.redis, 'blocking');
        return {
          knex,
          ledger: pushLedger(replayRedis, config),
          deliveries: service.deliveries,
          deadLetters: service.deadLetters,
        };
      },

      stop() {
        stopping ??= runCleanups();
        return stopping;
      },
    };
  } catch (err) {
    await runCleanups().catch(() => {});
    throw err;
  }
}

/** Polls `probe` until it returns something other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  describeFailure: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms: ${describeFailure()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function describeFilter(filter: { orderId?: number }): string {
  return filter.orderId === undefined ? 'in all' : `for order ${filter.orderId}`;
}
