// SPEC §6 "SIGTERM drains and exits 0" with §7 "no event is lost": pushes whose Singer call is
// open when SIGTERM arrives are finished (Singer answers, the job is done, so no later process
// sends them again), the process exits 0 within SHUTDOWN_GRACE_MS, and a new process delivers
// everything left. A second SIGTERM ends a drain that cannot finish, at once; what it cut off is
// delivered later under the same keys.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sleep } from '../support/service-process.js';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

const ORDERS = 10;
const STEPS = 2; // each order's second push waits for its first: there is always a rest to drain
const GRACE_MS = 10_000;

let scene: FaultScene;
let orderIds: number[];

beforeEach(async () => {
  scene = await createFaultScene('graceful-shutdown');
  orderIds = await scene.createOrders(ORDERS);
  await scene.changeOrders(orderIds, STEPS);
});

afterEach(async () => {
  await scene.destroy();
});

/** Makes the stub hold each answer until `release` settles; returns the keys it is holding. */
function holdAnswers(release: Promise<unknown>): Set<string> {
  const open = new Set<string>();
  scene.setRespond(async (push) => {
    open.add(push.idempotencyKey);
    await release;
    return { status: 200 };
  });
  return open;
}

it('SIGTERM with pushes in flight finishes them, exits 0 within the grace period, and a new process delivers the rest', async () => {
  let release: () => void = () => {};
  const open = holdAnswers(new Promise<void>((resolve) => (release = resolve)));
  const service = await scene.startService('draining', { SHUTDOWN_GRACE_MS: String(GRACE_MS) });
  await until(() => open.size >= ORDERS, 'every order’s first push is at Singer');
  const inFlight = new Set(open);

  service.kill('SIGTERM');
  // Singer is slow: it answers a second after the signal. The drain waits for it.
  await sleep(1_000);
  expect(service.exitStatus).toBeUndefined();
  release();
  const exit = await service.waitForExit(GRACE_MS + 5_000);
  expect(exit, service.output()).toEqual({ code: 0, signal: null });
  // It finished within the grace period, not by giving up on the in-flight calls at its end.
  expect(service.output()).not.toMatch(/still running at the end of the grace period/);
  const answered = new Set(
    scene.singer.requests.filter((r) => r.status === 200).map((r) => r.idempotencyKey),
  );
  expect([...inFlight].every((key) => answered.has(key))).toBe(true);
  const beforeRestart = scene.singer.requests.length;
  expect(beforeRestart).toBeLessThan(ORDERS * STEPS); // something was left for the next process

  scene.setRespond(undefined);
  const next = await scene.startService('after-drain');
  const figures = await scene.waitForDelivery(0);
  report('SIGTERM with pushes in flight, then a new process', figures);
  expect(figures).toMatchObject({ events: ORDERS * STEPS, lost: 0, unexpected: 0, outOfOrder: 0 });
  // The pushes finished during the drain were done: the new process did not send them again.
  const resent = scene.singer.requests
    .slice(beforeRestart)
    .filter((r) => inFlight.has(r.idempotencyKey));
  expect(resent).toHaveLength(0);
  expect(figures.duplicates).toBe(0);

  next.kill('SIGTERM');
  expect((await next.waitForExit()).code).toBe(0);
}, 90_000);

it('a second SIGTERM ends a drain that cannot finish at once, and nothing it cut off is lost', async () => {
  let release: () => void = () => {};
  const open = holdAnswers(new Promise<void>((resolve) => (release = resolve))); // Singer hangs
  // A long grace period: only the second signal can end this drain soon.
  const service = await scene.startService('stuck-drain', {
    SHUTDOWN_GRACE_MS: '120000',
    SINGER_TIMEOUT_MS: '120000',
  });
  await until(() => open.size >= ORDERS, 'every order’s first push is at Singer');

  service.kill('SIGTERM');
  await sleep(500);
  expect(service.exitStatus).toBeUndefined(); // still draining: the pushes are still open

  service.kill('SIGTERM');
  const exit = await service.waitForExit(5_000);
  expect(exit.signal).toBeNull();
  expect(exit.code).not.toBe(0); // forced: it did not drain
  expect(service.output()).toMatch(/second signal/);

  // Singer finally answers the calls of the dead process; a new process delivers everything.
  release();
  scene.setRespond(undefined);
  const next = await scene.startService('after-forced-exit');
  const figures = await scene.waitForDelivery(1);
  report('second SIGTERM during a stuck drain, then a new process', figures);
  expect(figures).toMatchObject({ events: ORDERS * STEPS, lost: 0, unexpected: 0, outOfOrder: 0 });

  next.kill('SIGTERM');
  expect((await next.waitForExit()).code).toBe(0);
}, 90_000);
