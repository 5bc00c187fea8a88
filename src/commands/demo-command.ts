/**
 * `push demo`: everything a newcomer needs to see the product work, in one command. It
 * creates demo `orders`/`nurses` tables in the configured database, migrates, starts the
 * service against a built-in stand-in Singer, walks the demo orders through their lives
 * with plain UPDATEs, and prints each push as Singer receives it.
 */
import type { Knex } from 'knex';
import { loadConfig, redactUrl } from '../config.js';
import { migrationContextOf } from '../db/migration-context.js';
import { migrateLatest } from '../db/run-migrations.js';
import { PlainError } from '../plain-error.js';
import { assertRedisReachable, connectRedis } from '../redis/redis-connection.js';
import { describeRedis, type RedisSettings } from '../redis/redis-settings.js';
import { unlinkKeys } from '../redis/unlink-keys.js';
import { DEMO_ORDERS } from '../demo/demo-story.js';
import { createOrderServiceTables, insertSampleNurses } from '../demo/order-service-schema.js';
import { createLogger } from '../logger.js';
import { startService, type Service } from '../main.js';
import { startStubSinger, type ReceivedPush } from '../singer/stub-singer.js';
import { openDatabaseCreatingIt } from './migrate-command.js';

/**
 * The demo's own keys in Redis, so it never touches a real deployment's queues; a hash tag,
 * so that it runs on a Redis Cluster too.
 */
const DEMO_QUEUE_PREFIX = '{push-demo}';

const ROLE_NAMES = { patient: '患者', nurse: '护士' } as const;
const CHANNEL_NAMES = { wechat: '微信', app: 'App' } as const;

export async function runDemoCommand(opts: { keepRunning?: boolean }): Promise<void> {
  const stub = await startStubSinger();
  // The demo's own queue prefix and stand-in Singer; the database is the configured one.
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'warn',
    ...process.env,
    QUEUE_PREFIX: DEMO_QUEUE_PREFIX,
    SINGER_URL: stub.url,
    ROLES: opts.keepRunning ? 'poller,worker,http' : 'poller,worker',
  });
  console.log(
    `push demo — MySQL ${redactUrl(config.databaseUrl)}, Redis ${describeRedis(config.redis)}`,
  );

  const knex = await openDatabaseCreatingIt(config.databaseUrl);
  let service: Service | undefined;
  try {
    await createOrderServiceTables(knex);
    await insertSampleNurses(knex);
    await migrateLatest(knex, migrationContextOf(config));
    console.log(
      'migrated: order_events outbox + trigger on orders; stand-in Singer at ' + stub.url,
    );

    await forgetEarlierDemoRuns(config.redis);
    stub.onRequest((push) => console.log(describePush(push)));
    service = await startService(config, { logger: createLogger(config.logLevel) });

    for (const order of DEMO_ORDERS) await walk(knex, order);
    await waitUntilDrained(knex, service);
    console.log(`\n${stub.deliveredKeys().size} pushes delivered.`);
    if (opts.keepRunning) {
      console.log(
        `still running (dashboard ${service.httpUrl}/admin/queues); change orders with SQL, e.g.\n` +
          "  UPDATE orders SET status = 'IN_SERVICE' WHERE status = 'AWAITING_SERVICE';\n" +
          'Ctrl-C to stop.',
      );
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await service?.stop();
    await knex.destroy();
    await stub.close();
  }
}

async function walk(knex: Knex, order: (typeof DEMO_ORDERS)[number]): Promise<void> {
  const [orderId] = await knex('orders').insert({
    patient_id: order.patientId,
    nurse_id: order.nurseId,
    status: 'PENDING_PAYMENT',
  });
  console.log(`\norder ${orderId} (patient ${order.patientId}): ${order.title}`);
  for (const step of order.steps) {
    console.log(`  · ${step.says}: → ${step.status}${step.reason ? ` (${step.reason})` : ''}`);
    await knex('orders')
      .where({ id: orderId })
      .update({
        status: step.status,
        status_reason: step.reason ?? null,
        ...(step.nurseId ? { nurse_id: step.nurseId } : {}),
      });
    // Give each push time to arrive before the next step, so the output reads as a story.
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/**
 * An earlier demo stopped half-way (Ctrl-C) leaves jobs in the demo's queues that would
 * be delivered, or wait out their lock, in this run. The demo's prefix is its own: start
 * from empty queues.
 */
async function forgetEarlierDemoRuns(settings: RedisSettings): Promise<void> {
  const redis = connectRedis(settings, 'fail-fast');
  try {
    await assertRedisReachable(redis, settings);
    await unlinkKeys(redis, DEMO_QUEUE_PREFIX);
  } finally {
    redis.disconnect();
  }
}

function describePush(push: ReceivedPush): string {
  const { body } = push;
  const to = 'pool' in body.to ? '护士池' : `${ROLE_NAMES[body.to.role]} ${body.to.id}`;
  const nurse = body.data.nurse ? ` 〔护士 ${body.data.nurse.name}〕` : '';
  const url = body.url ? `  ${body.url}` : '';
  return `      ✉ ${CHANNEL_NAMES[body.channel]} → ${to} · ${body.operate}：${body.content}${nurse}${url}`;
}

/** Waits until no event is left unclaimed and no push is waiting or retrying. */
async function waitUntilDrained(knex: Knex, service: Service, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [{ pending }] = (await knex('order_events')
      .whereNull('handed_off_at')
      .count({ pending: '*' })) as [{ pending: number | string }];
    const counts = await service.deliveries.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'prioritized',
    );
    if (Number(pending) === 0 && Object.values(counts).every((n) => n === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new PlainError(
    `the demo's pushes were not all delivered within ${timeoutMs / 1000} s; ` +
      '`npx push doctor` checks MySQL, Redis and the trigger',
  );
}
