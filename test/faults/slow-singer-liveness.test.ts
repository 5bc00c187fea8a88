// A worker behind a slow Singer is slow, not stuck: one hand-off job of 400 pushes, sent one at
// a time (WORKER_CONCURRENCY=1) to a Singer that takes 100 ms for each, runs for about 40 s —
// longer than the 37.5 s after which /healthz calls a delivery stuck here (3 × (SINGER_TIMEOUT_MS
// 1.5 s + 10 s + DB_QUERY_TIMEOUT_MS 1 s), main.ts). /healthz counts each piece of an attempt
// (the call to Singer, the outcome's commit), never a push waiting for its lane, so it stays
// 200 throughout and every push arrives once. A real `push start` process; its /healthz asked
// every second, as a kubelet would.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import { createFaultScene, report, type FaultScene } from './fault-fixture.js';

const PUSHES = 400;
const SINGER_DELAY_MS = 100;
const STALE_AFTER_MS = 3 * (1_500 + 10_000 + 1_000);

let scene: FaultScene;

beforeAll(async () => {
  scene = await createFaultScene('slow-singer-liveness');
});

afterAll(async () => {
  await scene?.destroy();
});

it('keeps /healthz 200 through a hand-off longer than the stuck threshold, and delivers it all once', async () => {
  // The whole backlog is committed first, so that the poller claims it as one hand-off job.
  const orderIds = await scene.createOrders(PUSHES);
  await scene.changeOrders(orderIds, 1);
  scene.setRespond(async () => {
    await sleep(SINGER_DELAY_MS);
    return { status: 200 };
  });
  const startedAt = Date.now();
  const service: ServiceProcess = await scene.startService('slow-singer', {
    WORKER_CONCURRENCY: '1',
    SINGER_TIMEOUT_MS: '1500',
    DB_QUERY_TIMEOUT_MS: '1000',
  });
  await service.waitUntilReady();

  const unhealthy: string[] = [];
  let probes = 0;
  while (scene.singer.deliveredKeys().size < PUSHES && Date.now() - startedAt < 120_000) {
    const health = await fetch(`${service.url}/healthz`, { signal: AbortSignal.timeout(1_000) });
    probes += 1;
    if (health.status !== 200) unhealthy.push(`${health.status} ${await health.text()}`);
    await sleep(1_000);
  }
  const tookMs = Date.now() - startedAt;

  const figures = await scene.waitForDelivery(0);
  report(`slow Singer, one hand-off of ${PUSHES} over ${Math.round(tookMs / 1000)} s`, figures);
  expect(figures).toMatchObject({ events: PUSHES, lost: 0, duplicates: 0, unexpected: 0 });
  // It did outlast the threshold, in one hand-off job, and /healthz never said stuck.
  expect(tookMs).toBeGreaterThan(STALE_AFTER_MS);
  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  expect(metrics).toMatch(/^push_queue_jobs\{queue="deliveries",state="completed"\} 1$/m);
  expect(service.output()).not.toMatch(/"msg":"push dead-lettered/);
  expect(unhealthy, `of ${probes} probes`).toEqual([]);
  expect(service.exitStatus).toBeUndefined();
}, 180_000);
