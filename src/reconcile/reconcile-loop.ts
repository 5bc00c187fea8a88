/**
 * Reconciliation: MySQL knows every push it is owed (push_outcomes rows without an
 * outcome); Redis may have lost some of their jobs (FLUSHALL, a restart without
 * persistence, a failover that lost the last writes, eviction). Every RECONCILE_INTERVAL_S
 * the loop takes the next RECONCILE_BATCH_SIZE owed pushes handed off more than
 * RECONCILE_AFTER_S ago and asks Redis for each one's job (job-presence.ts). A push whose
 * job is there in any state — waiting, retrying through a long Singer outage, running,
 * failed — is left alone, however old. For an order with a push whose job is gone, it
 * reads every push that order still owes, in event order, and hands those without a job
 * to BullMQ again under their own idempotency keys, turns first (enqueue-pushes.ts): so a
 * restored order's pushes still leave in the order of its changes.
 *
 * Never re-sent: a push with an outcome (the worker commits it before the job completes,
 * and the owed pushes are read again after Redis answered), or one whose job Redis holds.
 * Cheap when nothing is wrong: one read of an index range that is empty (no push stays
 * owed for RECONCILE_AFTER_S in a healthy pipeline). A page of pushes that are merely slow
 * costs a few round trips, and the next page starts after it, so a long outage's backlog is
 * walked through page by page rather than the oldest page checked forever.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { enqueuePushes } from '../delivery/enqueue-pushes.js';
import type { PushLedger } from '../delivery/push-ledger.js';
import type { DeliveryQueue } from '../delivery/queues.js';
import { pushJobOf } from '../outcomes/outcome-rows.js';
import {
  markHandedOffAgain,
  owedOfOrders,
  owedPage,
  type OwedCursor,
} from '../outcomes/owed-pushes.js';
import { sleep } from '../sleep.js';
import { jobPresence } from './job-presence.js';

export interface ReconcileSettings {
  /** RECONCILE_AFTER_S: how long a push stays owed before its job is looked for. */
  afterS: number;
  /** RECONCILE_INTERVAL_S, in ms. */
  intervalMs: number;
  /** RECONCILE_BATCH_SIZE: owed pushes looked at per cycle. */
  batchSize: number;
}

export interface ReconcileDeps {
  knex: Knex;
  deliveries: DeliveryQueue;
  ledger: PushLedger;
  logger: Logger;
  /** Called with how many pushes a cycle handed to BullMQ again (the metric). */
  onRestored?: (count: number) => void;
  /**
   * Whether BullMQ has room (back-pressure: fewer than MAX_QUEUED_PUSHES queued). While it
   * has none, lost pushes wait in MySQL like the poller's backlog: Redis memory stays
   * bounded, and an evicting Redis is not fed what it would only evict again.
   */
  hasRoom?: () => Promise<boolean>;
}

export interface ReconcileResult {
  checked: number;
  restored: number;
  /** Where the next cycle starts; undefined to start again from the oldest. */
  next: OwedCursor | undefined;
}

/** One cycle: a page of old owed pushes checked, the lost ones' orders restored. */
export async function reconcileOnce(
  deps: ReconcileDeps,
  settings: Omit<ReconcileSettings, 'intervalMs'>,
  cursor?: OwedCursor,
): Promise<ReconcileResult> {
  const page = await owedPage(deps.knex, settings.afterS, cursor, settings.batchSize);
  const last = page.at(-1);
  const next =
    last && page.length >= settings.batchSize
      ? { handedOffAt: last.handedOffAt, eventId: last.eventId, scenario: last.scenario }
      : undefined;
  if (page.length === 0) return { checked: 0, restored: 0, next };

  const presence = await jobPresence(
    deps.deliveries,
    deps.ledger,
    page.map((push) => push.idempotencyKey),
  );
  const lostOrders = [
    ...new Set(
      page.filter((push) => presence.get(push.idempotencyKey) !== 'live').map((p) => p.orderId),
    ),
  ];
  if (lostOrders.length === 0) return { checked: page.length, restored: 0, next };
  // The same page again next time: what it found lost is still to be restored.
  if (deps.hasRoom && !(await deps.hasRoom()))
    return { checked: page.length, restored: 0, next: cursor };

  // Read again after Redis answered: a push settled meanwhile is no longer owed, and
  // an order's younger owed pushes come along, so its pushes go back in event order.
  const owed = await owedOfOrders(deps.knex, lostOrders);
  const unchecked = owed.map((row) => row.idempotency_key).filter((key) => !presence.has(key));
  for (const [key, found] of await jobPresence(deps.deliveries, deps.ledger, unchecked))
    presence.set(key, found);

  const lost = owed.filter((row) => presence.get(row.idempotency_key) !== 'live');
  const restorable: typeof lost = [];
  for (const row of lost) {
    if (await clearLeftovers(deps.deliveries, row.idempotency_key)) restorable.push(row);
  }
  const pushes = restorable.map(pushJobOf);
  // Ahead of the queue: they are late, their orders' later pushes wait for them, and under
  // eviction a job at the far end of a long queue is the first Redis evicts again.
  await enqueuePushes(
    deps.ledger,
    deps.deliveries,
    pushes.map((push) => ({ push })),
    { first: true },
  );
  await markHandedOffAgain(
    deps.knex,
    pushes.map((p) => ({ eventId: p.event.eventId, idempotencyKey: p.idempotencyKey })),
  );

  for (const row of restorable) {
    deps.logger.info(
      {
        key: row.idempotency_key,
        orderId: String(row.order_id),
        eventId: String(row.event_id),
        ageS: Math.round((Date.now() - new Date(row.handed_off_at).getTime()) / 1000),
      },
      'restored a push whose job Redis no longer held',
    );
  }
  if (pushes.length > 0) deps.onRestored?.(pushes.length);
  return { checked: page.length + unchecked.length, restored: pushes.length, next };
}

/**
 * Whatever eviction left under the id (a hash without data, the id in a set) must go
 * before the job can be added again: BullMQ adds nothing under an id whose hash exists.
 * False when BullMQ will not remove it yet (a worker holds it: it is failing a job whose
 * data is gone right now); the next cycle tries again.
 */
async function clearLeftovers(deliveries: DeliveryQueue, key: string): Promise<boolean> {
  return (await deliveries.remove(key)) === 1;
}

export interface ReconcileLoop {
  /** Stops after the cycle in flight; idempotent. */
  stop(): Promise<void>;
}

export function startReconcileLoop(
  deps: ReconcileDeps,
  settings: ReconcileSettings,
): ReconcileLoop {
  const controller = new AbortController();
  const { signal } = controller;

  async function loop(): Promise<void> {
    let cursor: OwedCursor | undefined;
    while (!signal.aborted) {
      try {
        const result = await reconcileOnce(deps, settings, cursor);
        cursor = result.next;
        if (result.checked > 0) {
          deps.logger.debug({ checked: result.checked, restored: result.restored }, 'reconciled');
        }
        // Something is wrong (Redis lost jobs): go on at once until it is all restored.
        if (result.restored > 0) continue;
      } catch (err) {
        // MySQL or Redis down: nothing is restored on a guess; the next cycle tries again.
        deps.logger.warn({ err }, 'reconciliation failed; will try again');
      }
      await sleep(settings.intervalMs, signal);
    }
  }

  const running = loop();
  return {
    async stop() {
      controller.abort();
      await running;
    },
  };
}
