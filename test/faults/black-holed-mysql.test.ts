// A network path to MySQL that goes dark without a word: no RST, no FIN (a dead host, a firewall
// that drops packets, the old writer's address after a failover). push reaches MySQL through a
// TCP relay that the test black-holes: every connection open at that moment hears nothing more,
// ever, and new ones hear nothing until the relay forwards new connections again. Without a
// deadline the poller's query in flight would wait for TCP to give up, about fifteen minutes;
// with DB_QUERY_TIMEOUT_MS it reports the silence within the deadline, drops the session, and
// resumes through new connections once they get through, losing nothing and sending nothing
// twice. The order service reaches MySQL directly and writes throughout.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';
import { testServerUrl } from '../support/test-database.js';
import {
  createFaultScene,
  report,
  until,
  untilEveryDeliveryIsTraced,
  type FaultScene,
} from './fault-fixture.js';

const ORDERS = 10;
const DEADLINE_MS = 2_000;
// Room for the poll interval and a busy shared machine: this bounds "noticed", it claims no speed.
const SLACK_MS = 8_000;
// The dark claim session, idle as MySQL sees it, is dropped (its claim rolled back) after this.
const CLAIM_TIMEOUT_S = 4;

let scene: FaultScene;
let relay: TcpRelay;

beforeAll(async () => {
  scene = await createFaultScene('black-hole');
  const server = new URL(testServerUrl());
  relay = await startTcpRelay(server.hostname, Number(server.port || 3306));
});

afterAll(async () => {
  await scene?.destroy();
  await relay?.close();
});

/** Whether the poller logged giving up a query MySQL did not answer in time. */
function pollerGaveUpWaiting(service: ServiceProcess): boolean {
  return service
    .output()
    .split('\n')
    .some((line) => {
      try {
        const parsed = JSON.parse(line) as { role?: string; fault?: string };
        return parsed.role === 'poller' && parsed.fault === 'timed out';
      } catch {
        return false; // not a log line
      }
    });
}

it('notices a black-holed MySQL path within DB_QUERY_TIMEOUT_MS and resumes through new connections, losing nothing', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  const viaRelay = new URL(scene.db.url);
  viaRelay.port = String(relay.port);
  const service = await scene.startService('black-hole', {
    DATABASE_URL: viaRelay.toString(),
    DB_QUERY_TIMEOUT_MS: String(DEADLINE_MS),
    CLAIM_TIMEOUT_S: String(CLAIM_TIMEOUT_S),
  });
  await service.waitUntilReady();

  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      await scene.changeOrders(orderIds, 1, { parallel: 4 });
      await sleep(200);
    }
  })();
  try {
    await sleep(1_500);
    const darkFrom = Date.now();
    relay.blackHole();
    await until(
      () => pollerGaveUpWaiting(service),
      'the poller gives up a query on the dark path',
      DEADLINE_MS + SLACK_MS,
    );
    console.log(`[faults] black hole noticed after ${Date.now() - darkFrom} ms`);
    // Still dark: /readyz answers, and says the poller is not polling.
    const answer = await service.readyz();
    expect(answer.status).toBe(503);
    expect(answer.body?.checks?.poller).not.toBe('ok');
    await sleep(3_000);

    relay.forward();
    await service.waitUntilReady();
    await sleep(1_500);
  } finally {
    streaming = false;
    await stream;
  }

  const figures = await scene.waitForDelivery(0, 60_000);
  report('MySQL path black-holed, then new connections through', figures);
  expect(figures).toMatchObject({ lost: 0, duplicates: 0, unexpected: 0, outOfOrder: 0 });
  expect(await scene.unhandedRows()).toBe(0);
  expect(service.exitStatus).toBeUndefined();
  // The worker's trace writes (the knex pool) did not stay stuck on a dark session either.
  await untilEveryDeliveryIsTraced(scene, figures.pushes);

  // Nothing waits on a dark session at shutdown either.
  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
}, 150_000);
