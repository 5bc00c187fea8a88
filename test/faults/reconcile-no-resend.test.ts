// The reconciler never re-sends a push that is only slow: not in a clean run, and not through a
// long Singer outage while every push sits in Redis retrying. RECONCILE_AFTER_S is 2 s here (60 s
// by default), so through a 60 s outage each retrying push is old enough to be checked about
// 58 times, every second, a page at a time — more checks per push than a 5-minute outage gets
// at the defaults (one every 10 s after the first minute: 24) — and its job is found each time,
// delayed, waiting or active, and left alone. Duplicates are counted at Singer (accepted
// requests beyond the first per key) and restorations by the metric.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep, type ServiceProcess } from '../support/service-process.js';
import { createFaultScene, report, type FaultScene } from './fault-fixture.js';

const ORDERS = 20;
const OUTAGE_S = 60;
const AFTER_S = 2;
const PAGE = 20; // owed pushes checked per cycle: the outage's 60 take three pages

let scene: FaultScene;

beforeAll(async () => {
  scene = await createFaultScene('reconcile-no-resend');
});

afterAll(async () => {
  await scene?.destroy();
});

async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** The reconciler's cycles that found owed pushes to check, from its debug lines so far. */
function cyclesIn(output: string, seen: Map<string, { checked: number; restored: number }>) {
  // The last piece is still being written (or empty): the next sample reads it whole.
  for (const line of output.split('\n').slice(0, -1)) {
    if (!line.includes('"msg":"reconciled"')) continue;
    const entry = JSON.parse(line) as { time: string; checked: number; restored: number };
    seen.set(entry.time, { checked: entry.checked, restored: entry.restored });
  }
}

it('re-sends nothing in a clean run, nor through a long Singer outage with every push retrying', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  const service = await scene.startService('reconciler', {
    RECONCILE_AFTER_S: String(AFTER_S),
    RECONCILE_INTERVAL_S: '1',
    RECONCILE_BATCH_SIZE: String(PAGE),
    // Retries outlast the outage: up to 100 attempts, at most 2 s apart.
    DELIVERY_ATTEMPTS: '100',
    DELIVERY_BACKOFF_MAX_MS: '2000',
    LOG_LEVEL: 'debug',
  });
  await service.waitUntilReady();

  // A clean run: 100 changes, delivered at once.
  await scene.changeOrders(orderIds, 5);
  const clean = await scene.waitForDelivery(0);
  report('clean run, reconciler on', clean);
  expect(clean).toMatchObject({ events: ORDERS * 5, lost: 0, duplicates: 0, outOfOrder: 0 });
  expect(await metric(service, 'push_reconciled_pushes_total')).toBe(0);

  // Singer down; 60 more changes, each push retried for the whole outage.
  scene.setRespond(() => ({ status: 503 }));
  const before = scene.singer.requests.length;
  await scene.changeOrders(orderIds, 3);
  const cycles = new Map<string, { checked: number; restored: number }>();
  for (let waited = 0; waited < OUTAGE_S; waited += 5) {
    await sleep(5_000);
    cyclesIn(service.output(), cycles); // sampled often: the debug output is kept as a tail
  }
  const retried = scene.singer.requests.slice(before);
  expect(retried.length).toBeGreaterThan(ORDERS * 3 * 5); // every push tried again and again
  expect(await metric(service, 'push_pushes_owed')).toBe(ORDERS * 3);
  const checks = [...cycles.values()];
  const checked = checks.reduce((sum, c) => sum + c.checked, 0);
  console.log(
    `[faults] ${OUTAGE_S} s Singer outage: ${retried.length} refused attempts, ` +
      `${checks.length} reconcile cycles checked ${checked} owed pushes, restored ${checks.reduce((s, c) => s + c.restored, 0)}`,
  );
  // The reconciler looked, cycle after cycle, and restored nothing.
  expect(checks.length).toBeGreaterThan((OUTAGE_S - 10) / 2);
  expect(checked).toBeGreaterThan(ORDERS * 3 * ((OUTAGE_S - 10) / 5));
  expect(checks.every((c) => c.restored === 0)).toBe(true);

  scene.setRespond(undefined);
  const after = await scene.waitForDelivery(0, 60_000);
  report(`after a ${OUTAGE_S} s Singer outage, reconciler on`, after);
  expect(after).toMatchObject({ events: ORDERS * 8, lost: 0, duplicates: 0, outOfOrder: 0 });
  expect(await metric(service, 'push_reconciled_pushes_total')).toBe(0);
  expect(await metric(service, 'push_pushes_owed')).toBe(0);
}, 240_000);
