/**
 * Composition root: config → connections → the HTTP server (probes and metrics, in every
 * process) → the roles this process runs (poller, worker, http: the dashboard) → a stop()
 * that shuts them down in reverse order. `push start` calls this; so do
 * the demo and the end-to-end tests, which run the real service in-process.
 */
import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import {
  ACQUIRE_CONNECTION_TIMEOUT_MS,
  assertDatabaseReachable,
  connectDatabase,
} from './db/connect-database.js';
import { MYSQL_CONNECT_TIMEOUT_MS } from './db/database-url.js';
import { startDeliveryWorker, type AttemptOutcome } from './delivery/delivery-worker.js';
import { handOffPushes } from './delivery/enqueue-pushes.js';
import { pushLedger } from './delivery/push-ledger.js';
import { nurseLookup } from './delivery/nurse-lookup.js';
import {
  DELIVERY_QUEUE,
  openDeadLetterQueue,
  openDeliveryQueue,
  type DeadLetterQueue,
  type DeliveryQueue,
} from './delivery/queues.js';
import { throttledErrorLog } from './log-throttle.js';
import {
  assertQueuesUsable,
  assertRedisReachable,
  connectRedis,
  redisServes,
} from './redis/redis-connection.js';
import { describeRedis } from './redis/redis-settings.js';
import { explainRedisError } from './redis/redis-errors.js';
import { startAttemptRecorder } from './delivery/attempt-recorder.js';
import { startOutcomeRecorder } from './outcomes/outcome-recorder.js';
import { startReconcileLoop } from './reconcile/reconcile-loop.js';
import { mountDashboard } from './http/dashboard.js';
import { boundedCall } from './http/bounded-call.js';
import { DEPENDENCY_TIMEOUT_MS, dependencyCheck } from './http/dependency-checks.js';
import { closeServer, createHttpApp, listen, type HealthChecks } from './http/http-server.js';
import { heartbeat, inFlightWatch } from './http/liveness.js';
import { createMetrics, mountMetrics } from './http/metrics.js';
import { createBackPressure } from './outbox/back-pressure.js';
import { startPollLoop } from './outbox/poll-loop.js';
import { evictionWarning, maxmemoryPolicy } from './redis/eviction-policy.js';
import { startRetentionLoop } from './outbox/retention.js';
import type { CrashPoint } from './config.js';
import { createPushRenderer } from './render/render-push.js';
import { loadScenarioCatalog } from './scenarios/catalog.js';
import { createSingerClient } from './singer/singer-client.js';

export interface Service {
  /** The HTTP server's address (probes and metrics; the dashboard with the http role). */
  httpUrl: string;
  deliveries: DeliveryQueue;
  deadLetters: DeadLetterQueue;
  knex: Knex;
  /** Graceful shutdown; idempotent. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger: Logger;
  /** Test hook for the crash matrix: called at named points of the poller and worker. */
  checkpoint?: (point: CrashPoint) => void;
  onAttempt?: (outcome: AttemptOutcome) => void;
}

export async function startService(config: Config, options: ServiceOptions): Promise<Service> {
  const { logger } = options;
  const catalog = loadScenarioCatalog(config.scenariosFile);
  const renderer = createPushRenderer(catalog, { orderDetailUrl: config.orderDetailUrl });

  const knex = connectDatabase(config.databaseUrl, config.workerConcurrency + 4, {
    queryTimeoutMs: config.dbQueryTimeoutMs,
    logger: logger.child({ role: 'mysql-pool' }),
  });
  const cleanups: Array<() => Promise<unknown>> = [() => knex.destroy()];
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => logger.warn({ err }, 'error while shutting down'));
    }
  };

  try {
    await assertDatabaseReachable(knex, config.databaseUrl);
    const queueRedis = connectRedis(config.redis, 'fail-fast');
    cleanups.push(() => queueRedis.quit());
    await assertRedisReachable(queueRedis, config.redis);
    const evicting = evictionWarning(await maxmemoryPolicy(queueRedis).catch(() => undefined));
    if (evicting) logger.warn(evicting);

    const deliveries = openDeliveryQueue(queueRedis, config.queuePrefix, config);
    const deadLetters = openDeadLetterQueue(queueRedis, config.queuePrefix);
    // The poller's, the reconciler's and back-pressure's; the workers have their own.
    const ledger = pushLedger(queueRedis, config);
    const queueError = throttledErrorLog(
      logger,
      (err) => `queue error: ${explainRedisError(err, config.redis)}`,
    );
    deliveries.on('error', (err) => queueError(err));
    deadLetters.on('error', (err) => queueError(err));
    cleanups.push(
      () => deliveries.close(),
      () => deadLetters.close(),
      async () => queueError.flush(),
    );
    await assertQueuesUsable([deliveries, deadLetters], config.redis);

    // A command on one of push's own keys, not PING: PING answers on any node, even one that
    // refuses every command push sends (MOVED from a cluster node that does not own the slot).
    const pushKey = `${config.queuePrefix}:${DELIVERY_QUEUE}:meta`;
    const dependencies = [
      dependencyCheck('mysql', () => knex.raw('SELECT 1')),
      dependencyCheck('redis', async () => {
        const refused = await redisServes(queueRedis, config.redis, pushKey);
        if (refused) throw new Error(refused);
      }),
    ];
    // The roles below add their loops (and the poller its back-pressure) as they start them.
    const policy = boundedCall(() => maxmemoryPolicy(queueRedis), DEPENDENCY_TIMEOUT_MS);
    const health: HealthChecks = {
      loops: [],
      dependencies,
      details: [{ name: 'redis', detail: async () => evictionWarning(await policy()) }],
    };
    const metrics = createMetrics({
      knex,
      queues: { deliveries, 'dead-letters': deadLetters },
      ledger,
      dependencies,
      logger,
    });

    // Every process serves the probes and metrics, whatever its roles; the http role adds
    // the dashboard. Started first so that it is stopped last: shutdown runs the cleanups
    // in reverse, poller (stop claiming) → worker (finish in-flight) → http → queues →
    // Redis → MySQL.
    const app = createHttpApp(health);
    mountMetrics(app, metrics);
    if (config.roles.has('http')) {
      mountDashboard(app, { deliveries, deadLetters }, config.dashboard);
    }
    const activeServer = await listen(app, config.port, config.host);
    cleanups.push(() => closeServer(activeServer, app));
    const address = activeServer.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const httpUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;

    if (config.roles.has('worker')) {
      const workerRedis = connectRedis(config.redis, 'blocking');
      const turnsRedis = connectRedis(config.redis, 'blocking', { autoPipelining: true });
      // Each piece of an attempt that the watch counts (attempt-push.ts) waits at most for a
      // nurse look-up or its outcome's write (knex gives up acquiring a connection after 10 s,
      // MySQL's answer after DB_QUERY_TIMEOUT_MS) or for Singer (SINGER_TIMEOUT_MS): three
      // times all that and it is stuck, not slow. A push waiting for a lane does not count
      // (it waits for other pushes), nor does waiting for Redis to come back: it blocks every
      // delivery, and a restart would not bring Redis back.
      const deliveriesInFlight = inFlightWatch(
        3 * (config.singerTimeoutMs + ACQUIRE_CONNECTION_TIMEOUT_MS + config.dbQueryTimeoutMs),
      );
      turnsRedis
        .on('close', () => deliveriesInFlight.dependencyLost())
        .on('ready', () => deliveriesInFlight.dependencyBack());
      const singer = createSingerClient({
        baseUrl: config.singerUrl,
        token: config.singerToken,
        timeoutMs: config.singerTimeoutMs,
      });
      const recorder = startAttemptRecorder(knex, logger);
      // Deliveries waiting for MySQL to take their outcomes wait for MySQL, like those
      // waiting for Redis: not stuck.
      const outcomes = startOutcomeRecorder(knex, logger.child({ role: 'worker' }), {
        onFailing: () => deliveriesInFlight.dependencyLost('mysql'),
        onRecovered: () => deliveriesInFlight.dependencyBack('mysql'),
      });
      cleanups.push(
        () => recorder.stop(),
        () => outcomes.stop(),
        async () => singer.close(),
        () => workerRedis.quit(),
        () => turnsRedis.quit(),
      );
      const { worker, brake } = startDeliveryWorker(
        {
          redis: workerRedis,
          redisSettings: config.redis,
          ledger: pushLedger(turnsRedis, config),
          prefix: config.queuePrefix,
          deliveries,
          deadLetters,
          outcomes,
          renderer,
          singer,
          nurses: nurseLookup(knex, config.nursesTable),
          logger: logger.child({ role: 'worker' }),
          onAttempt: (outcome) => {
            recorder.record(outcome);
            metrics.onAttempt(outcome);
            options.onAttempt?.(outcome);
          },
          checkpoint: options.checkpoint,
          track: (delivery) => deliveriesInFlight.track(delivery),
        },
        {
          concurrency: config.workerConcurrency,
          deliveryAttempts: config.deliveryAttempts,
          orderWaitMs: config.orderWaitMs,
          backoff: { baseMs: config.deliveryBackoffBaseMs, maxMs: config.deliveryBackoffMaxMs },
          lockDurationMs: config.workerLockMs,
        },
      );
      cleanups.push(() => closeWorkerWithin(worker, config.shutdownGraceMs, logger));
      health.loops.push({
        name: 'worker',
        // Held back by the brake is turning on purpose (alive), not ready.
        stale: () =>
          worker.isRunning() || brake.braking
            ? deliveriesInFlight.stale()
            : 'the delivery worker is not running',
        unready: () => brake.problem,
      });
    }

    if (config.roles.has('poller')) {
      // A cycle that fails on MySQL does so within a connect (MYSQL_CONNECT_TIMEOUT_MS) and a
      // statement (DB_QUERY_TIMEOUT_MS); one that succeeds holds its claim for less than
      // CLAIM_TIMEOUT_S (MySQL rolls it back after that anyway); then the loop sleeps at most
      // its longest sleep. Twice all that without a cycle ending, and the loop is stuck on
      // something with no deadline (a Redis connection gone dark): a restart cures that.
      const longestSleepMs = Math.max(
        config.pollIntervalMs,
        config.idlePollIntervalMs,
        config.pollErrorBackoffMaxMs,
      );
      const longestCycleMs =
        config.claimTimeoutS * 1000 + MYSQL_CONNECT_TIMEOUT_MS + config.dbQueryTimeoutMs;
      const pollerBeat = heartbeat(2 * (longestCycleMs + longestSleepMs));
      const backPressure = createBackPressure({
        countQueued: () => ledger.countHeld(),
        maxQueuedPushes: config.maxQueuedPushes,
        logger: logger.child({ role: 'poller' }),
        onChange: (active) => metrics.onBackPressure(active),
      });
      health.details.push({ name: 'backpressure', detail: async () => backPressure.describe() });
      const loop = startPollLoop(
        {
          databaseUrl: config.databaseUrl,
          catalog,
          logger: logger.child({ role: 'poller' }),
          enqueue: (pushes, held) => handOffPushes(ledger, deliveries, pushes, held),
          checkpoint: options.checkpoint,
          onCycle: (result) => {
            pollerBeat.beat();
            metrics.onCycle(result);
          },
          onCycleError: () => {
            pollerBeat.beat();
            metrics.onPollerError();
          },
          backPressure,
        },
        {
          batchSize: config.pollBatchSize,
          pollIntervalMs: config.pollIntervalMs,
          idlePollIntervalMs: config.idlePollIntervalMs,
          errorBackoffMaxMs: config.pollErrorBackoffMaxMs,
          claimTimeoutS: config.claimTimeoutS,
          queryTimeoutMs: config.dbQueryTimeoutMs,
        },
      );
      cleanups.push(() => loop.stop());
      // Retention belongs to the poller role: one place deletes what the pollers are done with.
      const retention = startRetentionLoop({
        knex,
        logger: logger.child({ role: 'retention' }),
        retentionHours: config.outboxRetentionHours,
      });
      cleanups.push(() => retention.stop());
      // So is reconciliation: the pollers hand pushes to BullMQ, and hand again the lost ones.
      const reconcile = startReconcileLoop(
        {
          knex,
          deliveries,
          ledger,
          logger: logger.child({ role: 'reconciler' }),
          onRestored: (count) => metrics.onReconciled(count),
          hasRoom: async () => (await ledger.countHeld()) < config.maxQueuedPushes,
        },
        {
          afterS: config.reconcileAfterS,
          intervalMs: config.reconcileIntervalS * 1000,
          batchSize: config.reconcileBatchSize,
        },
      );
      cleanups.push(() => reconcile.stop());
      health.loops.push({
        name: 'poller',
        stale: () => pollerBeat.stale(),
        unready: () => (loop.healthy ? undefined : `not polling: ${loop.lastError ?? 'starting'}`),
      });
    }

    logger.info(
      {
        roles: [...config.roles],
        redis: describeRedis(config.redis),
        queuePrefix: config.queuePrefix,
        httpUrl,
      },
      'push service started',
    );

    let stopping: Promise<void> | undefined;
    return {
      httpUrl,
      deliveries,
      deadLetters,
      knex,
      stop() {
        stopping ??= runCleanups().then(() => logger.info('push service stopped'));
        return stopping;
      },
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

/**
 * Lets in-flight deliveries finish for up to `graceMs`, then closes regardless: a push cut
 * off mid-call is retried later under the same idempotency key (its lock expires).
 */
async function closeWorkerWithin(worker: Worker, graceMs: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = worker.close().then(() => 'closed' as const);
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  const outcome = await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  if (outcome === 'late') {
    logger.warn(
      { graceMs },
      'deliveries still running at the end of the grace period; closing anyway',
    );
    await worker.close(true);
  }
}
