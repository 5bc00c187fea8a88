// SPEC §6–§7: GET /readyz answers 503 while the service cannot reach Redis or MySQL, the process
// stays up through the outage (no crash, no exit), and once the server is back /readyz is 200
// again and pushes flow without a restart. Redis is a private one the test kills and starts
// again; MySQL is made unreachable by a TCP relay between the service and the server that the
// test closes (dropping every connection, refusing new ones) and opens again.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import type { ServiceProcess } from '../support/service-process.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';
import { testServerUrl } from '../support/test-database.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

let redis: PrivateRedis;
let scene: FaultScene;
let mysqlRelay: TcpRelay;
let service: ServiceProcess;
let orderIds: number[];

beforeAll(async () => {
  redis = await startPrivateRedis();
  scene = await createFaultScene('readiness', { redisUrl: redis.url });
  const server = new URL(testServerUrl());
  mysqlRelay = await startTcpRelay(server.hostname, Number(server.port || 3306));
  orderIds = await scene.createOrders(2);
  const viaRelay = new URL(scene.db.url);
  viaRelay.port = String(mysqlRelay.port);
  service = await scene.startService('readiness', { DATABASE_URL: viaRelay.toString() });
  await service.waitUntilReady();
});

afterAll(async () => {
  await scene?.destroy();
  await mysqlRelay?.close();
  await redis?.destroy();
});

async function pushesFlow(label: string): Promise<void> {
  await scene.changeOrders(orderIds, 1);
  const figures = await scene.waitForDelivery(1, 30_000);
  report(label, figures);
  expect(figures).toMatchObject({ lost: 0, unexpected: 0, outOfOrder: 0 });
}

it('answers 503 on /readyz while Redis is down, stays up, and is ready and delivering once Redis is back', async () => {
  await redis.stop('kill');
  let answer = await service.readyz();
  await until(
    async () => (answer = await service.readyz()).status === 503,
    '/readyz reports Redis down',
  );
  expect(answer.body?.status).toBe('not ready');
  expect(answer.body?.checks?.redis).not.toBe('ok');
  expect(answer.body?.checks?.mysql).toBe('ok');
  // A change committed during the outage waits in the outbox.
  await scene.changeOrders(orderIds, 1);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(service.exitStatus).toBeUndefined();
  expect((await service.readyz()).status).toBe(503);

  await redis.start();
  await service.waitUntilReady();
  expect(service.exitStatus).toBeUndefined();
  await pushesFlow('Redis down, /readyz 503 then 200');
});

it('answers 503 on /readyz while MySQL is unreachable, stays up, and is ready and delivering once it is back', async () => {
  mysqlRelay.stop();
  let answer = await service.readyz();
  await until(
    async () => (answer = await service.readyz()).status === 503,
    '/readyz reports MySQL down',
  );
  expect(answer.body?.checks?.mysql).not.toBe('ok');
  expect(answer.body?.checks?.redis).toBe('ok');
  // The order service (on its own connection) goes on; its changes wait in the outbox.
  await scene.changeOrders(orderIds, 1);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(service.exitStatus).toBeUndefined();
  expect((await service.readyz()).status).toBe(503);

  await mysqlRelay.start();
  await service.waitUntilReady();
  expect(service.exitStatus).toBeUndefined();
  await pushesFlow('MySQL unreachable, /readyz 503 then 200');

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
});
