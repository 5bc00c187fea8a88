// SPEC §7, "no event is lost … not when a worker or poller is killed with SIGKILL", and "each
// event reaches Singer at least once … with the same idempotency key": the real `push start`
// process is SIGKILLed at each point of a push's way where a crash could lose or repeat it, then
// started again without the fault, and the stand-in Singer must end up with every event's key.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';
import type { ServiceProcess } from '../support/service-process.js';

const ORDERS = 10;
const STEPS = 2; // 20 events, 20 pushes: two per order, so a second push waits for its order's first

describe('a push survives a SIGKILL of the service', () => {
  let scene: FaultScene;
  let orderIds: number[];

  beforeEach(async () => {
    scene = await createFaultScene('crash-matrix');
    orderIds = await scene.createOrders(ORDERS);
    // The backlog exists before the service starts, so its first claim takes all of it.
    await scene.changeOrders(orderIds, STEPS);
  });

  afterEach(async () => {
    await scene.destroy();
  });

  /** Starts the service again without the fault: every event reaches Singer, in order. */
  async function restartAndDeliver(
    crash: string,
    { env, events = STEPS * ORDERS }: { env?: Record<string, string>; events?: number } = {},
  ): Promise<ServiceProcess> {
    const restarted = await scene.startService(`after-${crash.replace(/\W+/g, '-')}`, env);
    await restarted.waitUntilReady();
    const figures = await scene.waitForDelivery(1);
    report(`crash ${crash}`, figures);
    expect(figures).toMatchObject({ events, lost: 0, unexpected: 0, outOfOrder: 0 });
    return restarted;
  }

  async function stopCleanly(service: ServiceProcess): Promise<void> {
    service.kill('SIGTERM');
    expect((await service.waitForExit()).code).toBe(0);
  }

  for (const point of ['claimed', 'held', 'enqueued', 'delivered'] as const) {
    it(`killed at PUSH_CRASH_AT=${point} and restarted: every event reaches Singer once in effect`, async () => {
      const crashing = await scene.startService(`crash-at-${point}`, { PUSH_CRASH_AT: point });
      const ended = await crashing.waitForExit();
      expect(ended.signal, crashing.output()).toBe('SIGKILL');
      if (point !== 'delivered') {
        // Killed before anything was stamped: the rows are still in the outbox.
        expect(await scene.unhandedRows()).toBe(STEPS * ORDERS);
      }
      if (point === 'claimed' || point === 'held') expect(scene.singer.requests).toHaveLength(0);
      let events = STEPS * ORDERS;
      if (point === 'held') {
        // Redis holds the pushes for a hand-off job that was never added. One more change
        // makes the next claim a batch of another shape, under another hand-off id, which
        // must take them over (not skip them as another job's, leaving them to the
        // reconciler a minute later).
        await scene.changeOrders(orderIds.slice(0, 1), 1);
        events += 1;
      }

      const restarted = await restartAndDeliver(`at ${point}`, { events });
      expect(await scene.unhandedRows()).toBe(0);
      await stopCleanly(restarted);
    });
  }

  it('killed between handing a push on to its own job and adding that job, and restarted: the retried hand-off hands it on again', async () => {
    // Singer refuses the first push it sees once: that push, and its order's later push behind
    // it, leave the hand-off for jobs of their own — and the process dies in between.
    let refused: string | undefined;
    scene.setRespond((push) => {
      if (refused !== undefined) return { status: 200 };
      refused = push.idempotencyKey;
      return { status: 503 };
    });
    // A short lock, so that the dead process's hand-off job is seen stalled and run again soon.
    const lock = { WORKER_LOCK_MS: '2000' };
    const crashing = await scene.startService('crash-at-handed-over', {
      ...lock,
      PUSH_CRASH_AT: 'handed-over',
    });
    const ended = await crashing.waitForExit();
    expect(ended.signal, crashing.output()).toBe('SIGKILL');
    expect(refused).toBeDefined();

    await stopCleanly(await restartAndDeliver('between a hand-over and its jobs', { env: lock }));
  });

  it('killed while Singer is still answering a push, and restarted: the push is sent again under its key', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let held: string | undefined;
    scene.setRespond(async (push) => {
      if (held === undefined) {
        // The first push Singer sees: hold its answer until the process that sent it is dead.
        held = push.idempotencyKey;
        await released;
      }
      return { status: 200 };
    });

    const service = await scene.startService('killed-mid-request');
    await until(() => held !== undefined, 'a push reached Singer');
    service.kill('SIGKILL');
    await service.waitForExit();
    // Singer finishes the request whose client is gone: it did deliver it, the sender never learnt.
    release();

    const restarted = await restartAndDeliver('during the Singer call');
    // The held push went out again after the restart, under the same key (Singer dropped it).
    const heldRequests = scene.singer.requests.filter((r) => r.idempotencyKey === held);
    expect(heldRequests.length).toBeGreaterThanOrEqual(2);
    expect(new Set(heldRequests.map((r) => r.headers['idempotency-key']))).toEqual(new Set([held]));
    await stopCleanly(restarted);
  });
});
