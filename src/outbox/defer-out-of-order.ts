/**
 * Keeps per-order ordering when several pollers run. SKIP LOCKED lets poller B claim an
 * order's event 11 while poller A still holds its event 10; handing 11 off first would let
 * it overtake 10. So before handing off, a plain (non-locking) read looks for earlier
 * unclaimed events of the same orders, and such orders' events stay for a later claim.
 * With one poller this never defers anything. One query per batch, on
 * order_events_by_order.
 */
import type { Knex } from 'knex';
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { OrderEvent } from '../scenarios/types.js';

export async function deferOutOfOrder(
  trx: Knex.Transaction,
  events: OrderEvent[],
): Promise<{ ready: OrderEvent[]; deferred: OrderEvent[] }> {
  if (events.length === 0) return { ready: [], deferred: [] };
  const firstClaimed = new Map<string, bigint>();
  for (const event of events) {
    const id = BigInt(event.eventId);
    const known = firstClaimed.get(event.orderId);
    if (known === undefined || id < known) firstClaimed.set(event.orderId, id);
  }
  const [rows] = (await trx.raw(firstUnclaimedSql(firstClaimed.size), [
    ...firstClaimed.keys(),
  ])) as [{ order_id: string; first_id: string }[]];
  const blocked = new Set(
    rows
      .filter((row) => BigInt(row.first_id) < (firstClaimed.get(String(row.order_id)) ?? 0n))
      .map((row) => String(row.order_id)),
  );
  if (blocked.size === 0) return { ready: events, deferred: [] };
  return {
    ready: events.filter((e) => !blocked.has(e.orderId)),
    deferred: events.filter((e) => blocked.has(e.orderId)),
  };
}

/** Exported so test/db/migrations.test.ts can EXPLAIN exactly what the poller runs. */
export function firstUnclaimedSql(orderCount: number): string {
  return `SELECT order_id, MIN(id) AS first_id FROM ${OUTBOX_TABLE}
      WHERE order_id IN (${Array.from({ length: orderCount }, () => '?').join(',')})
        AND handed_off_at IS NULL
      GROUP BY order_id`;
}
