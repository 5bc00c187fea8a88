// SPEC §7, "not while … MySQL is down": the poller's MySQL connection is KILLed from a root
// connection while it holds claimed rows (mid-claim), and then every connection of the service is
// KILLed again and again while a burst flows. MySQL rolls the claims back; the rows must be claimed
// again and every push must arrive.
//
// To catch the poller mid-claim every time rather than by luck, the service's Redis (a private
// one) pauses writes: the poller then sits between its SELECT … FOR UPDATE SKIP LOCKED and its
// commit, holding the rows, until the test has KILLed its connection.
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { sleep } from '../support/service-process.js';
import { mysqlLogin } from '../support/mysql-login.js';
import { testServerUrl } from '../support/test-database.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

const ORDERS = 30;
const MID_CLAIM_KILLS = 3;
const STEPS_PER_CLAIM_KILL = 2; // 60 changes claimed by the poller whose connection dies
const BURST_STEPS = 4; // then 120 changes while every connection of the service is KILLed repeatedly

let redis: PrivateRedis;
let redisAdmin: Redis;
let scene: FaultScene;
/** A root connection outside the test database, as a DBA would KILL from. */
let root: Knex;

beforeAll(async () => {
  redis = await startPrivateRedis();
  redisAdmin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  scene = await createFaultScene('mysql-kill', { redisUrl: redis.url });
  const serverUrl = new URL(testServerUrl());
  serverUrl.pathname = '';
  root = knexFactory({
    client: 'mysql2',
    connection: mysqlLogin(serverUrl.toString()) as Knex.MySql2ConnectionConfig,
    pool: { min: 0, max: 1 },
  });
});

afterAll(async () => {
  redisAdmin?.disconnect();
  await root?.destroy();
  await scene?.destroy();
  await redis?.destroy();
});

/** Waiting outbox rows that nobody holds a lock on right now. */
async function unlockedWaitingRows(): Promise<number> {
  return root.transaction(async (trx) => {
    const [rows] = (await trx.raw(
      `SELECT id FROM \`${scene.db.name}\`.order_events
        WHERE handed_off_at IS NULL FOR UPDATE SKIP LOCKED`,
    )) as [unknown[]];
    return rows.length;
  });
}

/** MySQL threads of the push service (this database, not the test's own order service). */
async function serviceThreads(
  knex: Knex,
  database: string,
  exclude: Set<number>,
): Promise<number[]> {
  const [rows] = (await knex.raw(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
    [database],
  )) as [Array<{ id: number | string }>];
  return rows.map((row) => Number(row.id)).filter((id) => !exclude.has(id));
}

it('loses no push when the poller’s MySQL connection is KILLed mid-claim and during a burst', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  // Nothing kills the service here, so the product's default lock: a worker whose lock renewals
  // wait out a paused Redis would otherwise lose its jobs to the stall check and send them twice.
  // A short error backoff: each KILL costs the poller an error, and a loaded CI machine must
  // not leave it sleeping through the next round's window.
  const service = await scene.startService('mysql-kills', {
    WORKER_LOCK_MS: '30000',
    POLL_ERROR_BACKOFF_MAX_MS: '500',
  });
  await service.waitUntilReady();
  const exclude = scene.orderServiceThreads;
  let kills = 0;

  for (let round = 0; round < MID_CLAIM_KILLS; round++) {
    // The pause is renewed until the claim is killed: on a loaded machine writing the
    // changes can outlast any single pause, and a lapsed pause lets the claim finish unseen.
    const pause = () => redisAdmin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    await pause();
    const renewal = setInterval(() => void pause().catch(() => {}), 2_000);
    try {
      await scene.changeOrders(orderIds, STEPS_PER_CLAIM_KILL);
      // The poller is mid-claim once waiting rows are locked: a SKIP LOCKED read from
      // outside then sees fewer rows than wait. (information_schema's INNODB_TRX proved
      // unreliable for this on MariaDB right after a KILL.)
      await until(
        async () => (await scene.unhandedRows()) > (await unlockedWaitingRows()),
        'the poller holds claimed rows while Redis is paused',
      );
      // Every connection of the service, so the claim's own connection among them.
      const victims = await serviceThreads(root, scene.db.name, exclude);
      for (const id of victims) {
        await root.raw(`KILL CONNECTION ${id}`);
        kills += 1;
      }
    } finally {
      clearInterval(renewal);
      await redisAdmin.call('CLIENT', 'UNPAUSE');
    }
    // The killed claim's rows are claimed again and handed off by a new connection.
    await until(
      async () => (await scene.unhandedRows()) === 0,
      'the killed claim is handed off again',
    );
  }
  const midClaimKills = kills;

  let writing = true;
  const killer = (async () => {
    while (writing) {
      for (const id of await serviceThreads(root, scene.db.name, exclude)) {
        await root.raw(`KILL CONNECTION ${id}`).catch(() => {}); // it may have ended on its own
        kills += 1;
      }
      await sleep(100);
    }
  })();
  try {
    await scene.changeOrders(orderIds, BURST_STEPS, { parallel: 2 });
  } finally {
    writing = false;
    await killer;
  }

  const figures = await scene.waitForDelivery(kills);
  report(`MySQL connections KILLed (${midClaimKills} mid-claim)`, figures);
  expect(midClaimKills).toBeGreaterThanOrEqual(MID_CLAIM_KILLS);
  expect(figures).toMatchObject({
    events: ORDERS * (MID_CLAIM_KILLS * STEPS_PER_CLAIM_KILL + BURST_STEPS),
    lost: 0,
    unexpected: 0,
    outOfOrder: 0,
  });
  expect(await scene.unhandedRows()).toBe(0);
  expect(service.exitStatus).toBeUndefined();

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 120_000);
