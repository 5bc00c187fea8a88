/**
 * Composition root: config → connections → the roles this process runs (poller, worker,
 * http) → a stop() that shuts them down in reverse order. `push start` calls this; so do
 * the demo and the end-to-end tests, which run the real service in-process.
 */
import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { assertDatabaseReachable, connectDatabase } from './db/connect-database.js';
import { startDeliveryWorker, type AttemptOutcome } from './delivery/delivery-worker.js';
import { enqueuePushes } from './delivery/enqueue-pushes.js';
import { nurseLookup } from './delivery/nurse-lookup.js';
import {
  openDeadLetterQueue,
  openDeliveryQueue,
  type DeadLetterQueue,
  type DeliveryQueue,
} from './delivery/queues.js';
import { assertRedisReachable, connectRedis } from './delivery/redis-connection.js';
import { startAttemptRecorder } from './delivery/attempt-recorder.js';
import { mountDashboard } from './http/dashboard.js';
import { closeServer, createHttpApp, listen, type ReadinessCheck } from './http/http-server.js';
import { createMetrics, mountMetrics } from './http/metrics.js';
import { startPollLoop } from './outbox/poll-loop.js';
import { startRetentionLoop } from './outbox/retention.js';
import type { CrashPoint } from './config.js';
import { createPushRenderer } from './render/render-push.js';
import { loadScenarioCatalog } from './scenarios/catalog.js';
import { createSingerClient } from './singer/singer-client.js';

export interface Service {
  /** The HTTP server's address, when this process runs the http role. */
  httpUrl: string | undefined;
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
    const queueRedis = connectRedis(config.redisUrl, 'fail-fast');
    cleanups.push(() => queueRedis.quit());
    await assertRedisReachable(queueRedis, config.redisUrl);

    const deliveries = openDeliveryQueue(queueRedis, config.queuePrefix, config);
    const deadLetters = openDeadLetterQueue(queueRedis, config.queuePrefix);
    cleanups.push(
      () => deliveries.close(),
      () => deadLetters.close(),
    );

    const checks: ReadinessCheck[] = [
      { name: 'mysql', check: async () => void (await knex.raw('SELECT 1')) },
      { name: 'redis', check: async () => void (await queueRedis.ping()) },
    ];

    // Started first so that it is stopped last: shutdown runs the cleanups in reverse,
    // poller (stop claiming) → worker (finish in-flight) → http → queues → Redis → MySQL.
    const metrics = createMetrics({ knex, queues: { deliveries, 'dead-letters': deadLetters } });
    let httpUrl: string | undefined;
    if (config.roles.has('http')) {
      const app = createHttpApp(checks);
      mountMetrics(app, metrics);
      mountDashboard(app, { deliveries, deadLetters }, config.dashboard);
      const activeServer = await listen(app, config.port, config.host);
      cleanups.push(() => closeServer(activeServer, app));
      const address = activeServer.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      httpUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    }

    if (config.roles.has('worker')) {
      const workerRedis = connectRedis(config.redisUrl, 'blocking');
      const turnsRedis = connectRedis(config.redisUrl, 'blocking', { autoPipelining: true });
      const singer = createSingerClient({
        baseUrl: config.singerUrl,
        token: config.singerToken,
        timeoutMs: config.singerTimeoutMs,
      });
      const recorder = startAttemptRecorder(knex, logger);
      cleanups.push(
        () => recorder.stop(),
        async () => singer.close(),
        () => workerRedis.quit(),
        () => turnsRedis.quit(),
      );
      const worker = startDeliveryWorker(
        {
          redis: workerRedis,
          turns: turnsRedis,
          prefix: config.queuePrefix,
          deliveries,
          deadLetters,
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
        },
        {
          concurrency: config.workerConcurrency,
          orderWaitMs: config.orderWaitMs,
          backoff: { baseMs: config.deliveryBackoffBaseMs, maxMs: config.deliveryBackoffMaxMs },
          lockDurationMs: config.workerLockMs,
        },
      );
      cleanups.push(() => closeWorkerWithin(worker, config.shutdownGraceMs, logger));
      checks.push({
        name: 'worker',
        check: async () => (worker.isRunning() ? undefined : 'worker is not running'),
      });
    }

    if (config.roles.has('poller')) {
      const loop = startPollLoop(
        {
          databaseUrl: config.databaseUrl,
          catalog,
          logger: logger.child({ role: 'poller' }),
          enqueue: (pushes) => enqueuePushes(config.queuePrefix, deliveries, pushes),
          checkpoint: options.checkpoint,
          onCycle: (result) => metrics.onCycle(result),
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
      checks.push({
        name: 'poller',
        check: async () =>
          loop.healthy ? undefined : `not polling: ${loop.lastError ?? 'starting'}`,
      });
    }

    logger.info(
      {
        roles: [...config.roles],
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
