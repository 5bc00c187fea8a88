// A poller whose host dies, hangs or is cut off mid-claim sends MySQL no FIN: its session stays
// open with the claimed rows locked, and SKIP LOCKED makes every other poller pass them by — for
// MySQL's default wait_timeout of eight hours. CLAIM_TIMEOUT_S is that session's wait_timeout:
// MySQL drops the silent session, rolls the claim back, and another poller delivers the events.
// The frozen host is a real `push start` that SIGSTOPs itself right after its claim.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFaultScene, report, until, type FaultScene } from './fault-fixture.js';

const ORDERS = 10;
const CLAIM_TIMEOUT_S = 2;

let scene: FaultScene;

beforeAll(async () => {
  scene = await createFaultScene('frozen-poller');
});

afterAll(async () => {
  await scene.destroy();
});

/** The process's state letter from /proc: 'T' while stopped. */
function processState(pid: number): string {
  // /proc/<pid>/stat: "pid (comm) S …"; comm may hold spaces, so read after the last ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.charAt(stat.lastIndexOf(')') + 2);
}

/** Outbox rows another poller could claim now (SKIP LOCKED passes over a held claim). */
async function claimableRows(): Promise<number> {
  return scene.db.knex.transaction(async (trx) => {
    const [rows] = (await trx.raw(
      'SELECT id FROM order_events WHERE handed_off_at IS NULL FOR UPDATE SKIP LOCKED',
    )) as [unknown[]];
    return rows.length;
  });
}

it('a poller frozen holding its claim loses it after CLAIM_TIMEOUT_S, and another delivers every event', async () => {
  const orderIds = await scene.createOrders(ORDERS);
  await scene.changeOrders(orderIds, 1);

  const frozen = await scene.startService('frozen', {
    ROLES: 'poller',
    PUSH_CRASH_AT: 'claimed',
    PUSH_CRASH_SIGNAL: 'SIGSTOP',
    CLAIM_TIMEOUT_S: String(CLAIM_TIMEOUT_S),
  });
  await until(() => processState(frozen.pid) === 'T', 'the poller froze after claiming');
  // Its claim is held: nothing is left for another poller, nothing was handed off.
  expect(await claimableRows()).toBe(0);
  expect(await scene.unhandedRows()).toBe(ORDERS);

  const frozenAt = Date.now();
  const healthy = await scene.startService('healthy');
  await healthy.waitUntilReady();
  const figures = await scene.waitForDelivery(0, 20_000);
  report('poller frozen mid-claim', figures);
  expect(figures).toMatchObject({
    events: ORDERS,
    lost: 0,
    duplicates: 0,
    unexpected: 0,
    outOfOrder: 0,
  });
  // Not before MySQL gave up on the frozen session, and the frozen poller never woke up.
  expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(CLAIM_TIMEOUT_S * 1000 - 500);
  expect(processState(frozen.pid)).toBe('T');
  expect(await scene.unhandedRows()).toBe(0);

  frozen.kill('SIGKILL');
  healthy.kill('SIGTERM');
  expect((await healthy.waitForExit()).code).toBe(0);
});
