// SPEC §7 "pushes for one order leave in the order of its events", with many pollers (§1). Two
// pollers' `SELECT … FOR UPDATE SKIP LOCKED` scans can interleave row by row: A locks event 1 of
// an order, B skips it and locks event 2, A skips 2 and locks event 3. A then holds 1 and 3 while
// B holds 2 (this happens: two concurrent claims on one backlog interleave in a few percent of
// tries on MariaDB). A may hand off 1, but not 3 before B's 2 — or 3's push could overtake 2's.
// The state after such an interleaving is built here exactly, with a row lock, on a real database.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { openClaimConnection } from '../../src/outbox/claim-connection.js';
import { handOffBatch } from '../../src/outbox/hand-off-batch.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import type { PushJob } from '../../src/scenarios/types.js';
import { createFaultScene, type FaultScene } from './fault-fixture.js';

let scene: FaultScene;

beforeAll(async () => {
  scene = await createFaultScene('interleaved-claims');
});

afterAll(async () => {
  await scene.destroy();
});

it('a poller holding an order’s events around one another poller holds hands off none past it', async () => {
  const [orderId] = await scene.createOrders(1);
  await scene.changeOrders([orderId!], 3);
  const ids = (
    (await scene.orderService('order_events').orderBy('id').pluck('id')) as Array<string | number>
  ).map(String);
  expect(ids).toHaveLength(3);
  const [first, second, third] = ids as [string, string, string];

  // Poller B, as its interleaved scan left it: holding the order's second event only.
  const pollerB = await scene.orderService.transaction({ isolationLevel: 'read committed' });
  const claims = openClaimConnection(scene.db.url, { idleTimeoutS: 60, queryTimeoutMs: 10_000 });
  try {
    await pollerB.raw('SELECT id FROM order_events WHERE id = ? FOR UPDATE', [second]);

    // Poller A claims what it can: the first and the third.
    const enqueued: PushJob[] = [];
    const deps = {
      claims,
      catalog: loadScenarioCatalog(),
      logger: createLogger('silent'),
      enqueue: async (pushes: PushJob[]) => void enqueued.push(...pushes),
    };
    const cycle = await handOffBatch(deps, 10);
    expect(cycle.claimed).toBe(2);
    expect(enqueued.map((push) => push.event.eventId)).toEqual([first]);

    // B lets go of its event (it would have deferred it behind the first); the next claim
    // takes the second and the third together, in order.
    await pollerB.rollback();
    await handOffBatch(deps, 10);
    expect(enqueued.map((push) => push.event.eventId)).toEqual([first, second, third]);
  } finally {
    if (!pollerB.isCompleted()) await pollerB.rollback();
    await claims.close();
  }
});
