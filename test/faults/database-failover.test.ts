// A failover's first symptom: the server push is connected to stops taking writes but goes on
// answering (RDS or Aurora: the old writer, read-only, while DNS already names the new one). For
// 10 s a private server runs with read_only=1 while a stream of status changes goes on. push's
// account (no SUPER, no READ_ONLY ADMIN) gets error 1290 for every write: the poller's claim and
// the worker's trace rows. push must drop each read-only session, connect again by itself, and
// once the server takes writes again deliver every push exactly once, in order, and write its
// trace. The order service writes as root (it stands for the writer the order service already
// reached), with push's trigger installed by root too: a trigger runs with its definer's
// privileges, so under read_only an UPDATE passes only if the trigger's definer may write.
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRdsLikeMariaDb, type RdsLikeServer } from '../support/rds-like-mariadb.js';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import {
  createFaultScene,
  report,
  until,
  untilEveryDeliveryIsTraced,
  type FaultScene,
} from './fault-fixture.js';

const ORDERS = 10;
const READ_ONLY_MS = 10_000;

let server: RdsLikeServer;
/** Root on the private server: SET GLOBAL read_only is an operator's (here the test's) act. */
let root: Connection;
let scene: FaultScene;

beforeAll(async () => {
  server = await startRdsLikeMariaDb();
  root = await createConnection({ uri: server.rootUrl });
  scene = await createFaultScene('failover', {
    serverUrl: server.rootUrl,
    orderServiceAccount: 'root',
  });
});

afterAll(async () => {
  await scene?.destroy();
  await root?.end();
  await server?.stop();
});

interface LogLine {
  role?: string;
  fault?: string;
}

/** Whether the service logged dropping a read-only session of `role` (the log's tail is read). */
function droppedReadOnly(service: ServiceProcess, role: 'poller' | 'mysql-pool'): boolean {
  return service
    .output()
    .split('\n')
    .some((line) => {
      try {
        const parsed = JSON.parse(line) as LogLine;
        return parsed.role === role && parsed.fault === 'read-only';
      } catch {
        return false; // not a log line
      }
    });
}

async function lastEventId(): Promise<number> {
  const [rows] = (await scene.orderService.raw('SELECT MAX(id) AS id FROM order_events')) as [
    Array<{ id: number | string | null }>,
  ];
  return Number(rows[0]?.id ?? 0);
}

it('drops read-only sessions for 10 s of read_only=1, then delivers every push once, by itself', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  // Deliveries take a moment, so some are in flight when the server turns read-only and
  // their trace rows meet it.
  scene.setRespond(async () => {
    await sleep(300);
    return { status: 200 };
  });
  const service = await scene.startService('failover');
  await service.waitUntilReady();

  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      await scene.changeOrders(orderIds, 1, { parallel: 4 });
      await sleep(200);
    }
  })();
  try {
    await sleep(2_000);
    await root.query('SET GLOBAL read_only = 1');
    const lastEventBefore = await lastEventId();
    try {
      const readOnlyFrom = Date.now();
      // The poller's claims and the worker's trace writes (through the knex pool) are refused;
      // both give up the session that refused them. Watched while it happens: the output kept
      // is a tail, and every refused cycle logs an error.
      await until(
        () => droppedReadOnly(service, 'poller') && droppedReadOnly(service, 'mysql-pool'),
        'the poller and the knex pool drop sessions that answered read-only',
        READ_ONLY_MS,
      );
      await sleep(READ_ONLY_MS - (Date.now() - readOnlyFrom));
    } finally {
      await root.query('SET GLOBAL read_only = 0');
    }
    // Changes went on during the window: the poller had events to claim and was refused.
    expect(await lastEventId()).toBeGreaterThan(lastEventBefore);
    await sleep(2_000);
  } finally {
    streaming = false;
    await stream;
  }

  const figures = await scene.waitForDelivery(0, 60_000);
  report('read_only=1 for 10 s during a stream of changes', figures);
  expect(figures.events).toBeGreaterThan(ORDERS * 10);
  expect(figures).toMatchObject({ lost: 0, duplicates: 0, unexpected: 0, outOfOrder: 0 });
  expect(await scene.unhandedRows()).toBe(0);
  expect(service.exitStatus).toBeUndefined();
  // The trace writes refused during the window were retried on new sessions afterwards.
  await untilEveryDeliveryIsTraced(scene, figures.pushes);

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 150_000);
