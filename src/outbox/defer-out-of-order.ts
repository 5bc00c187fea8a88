/**
 * Keeps per-order ordering when several pollers run. SKIP LOCKED lets poller B claim an
 * order's event 11 while poller A still holds its event 10; handing 11 off first would let
 * it overtake 10. Two claims' scans can also interleave row by row, so that A holds an
 * order's events 10 and 12 while B holds 11. So before handing off, a plain (non-locking)
 * read finds, for each order in the batch, its first unstamped event that this batch does
 * not hold; the batch's events of that order from there on stay for a later claim, and
 * those before it go. With one poller this never defers anything. One query per batch, on
 * order_events_by_order.
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { OrderEvent } from '../scenarios/types.js';
import type { ClaimConnection } from './claim-connection.js';

export async function deferOutOfOrder(
  sql: ClaimConnection,
  events: OrderEvent[],
): Promise<{ ready: OrderEvent[]; deferred: OrderEvent[] }> {
  if (events.length === 0) return { ready: [], deferred: [] };
  const orderIds = [...new Set(events.map((e) => e.orderId))];
  const claimedIds = events.map((e) => e.eventId);
  const rows = await sql.query<{ order_id: string; first_id: string }[]>(
    firstUnclaimedSql(orderIds.length, claimedIds.length),
    [...orderIds, ...claimedIds],
  );
  // Per order: the first event still waiting that another claim holds or nobody claimed yet.
  const firstElsewhere = new Map(rows.map((row) => [String(row.order_id), BigInt(row.first_id)]));
  const ready: OrderEvent[] = [];
  const deferred: OrderEvent[] = [];
  for (const event of events) {
    const limit = firstElsewhere.get(event.orderId);
    (limit === undefined || BigInt(event.eventId) < limit ? ready : deferred).push(event);
  }
  return { ready, deferred };
}

/**
 * Exported so test/db/migrations.test.ts can EXPLAIN exactly what the poller runs. Parameters:
 * the batch's order ids, then its event ids (the poller passes both; `claimedCount` 0 omits
 * the exclusion).
 */
export function firstUnclaimedSql(orderCount: number, claimedCount = 0): string {
  const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(',');
  const notClaimed = claimedCount > 0 ? `AND id NOT IN (${placeholders(claimedCount)})` : '';
  return `SELECT order_id, MIN(id) AS first_id FROM ${OUTBOX_TABLE}
      WHERE order_id IN (${placeholders(orderCount)})
        AND handed_off_at IS NULL
        ${notClaimed}
      GROUP BY order_id`;
}
