/**
 * Keeps per-order ordering when several pollers run. SKIP LOCKED lets poller B claim an
 * order's event 11 while poller A still holds its event 10; handing 11 off first would let
 * it overtake 10. Two claims' scans can also interleave row by row, so that A holds an
 * order's events 10 and 12 while B holds 11. So before handing off, a plain (non-locking)
 * read finds, for each order in the batch, its first unstamped event that this batch does
 * not hold; the batch's events of that order from there on stay for a later claim, and
 * those before it go. With one poller this never defers anything. One query per batch, on
 * order_events_by_order — and none when the claim provably skipped nothing
 * (claimSkippedNothing): the usual case, which then costs no round trip.
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { OrderEvent } from '../scenarios/types.js';
import type { Claim } from './claim-batch.js';
import type { ClaimConnection } from './claim-connection.js';

export async function deferOutOfOrder(
  sql: ClaimConnection,
  { events, waitingHead }: Claim,
): Promise<{ ready: OrderEvent[]; deferred: OrderEvent[] }> {
  if (events.length === 0) return { ready: [], deferred: [] };
  if (claimSkippedNothing(events, waitingHead)) return { ready: events, deferred: [] };
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
 * Whether no unstamped event below the claim's last id is held elsewhere or was passed
 * over. Then no event of the claim can have an earlier event of its order outside it: an
 * order's events are written one transaction after another (each waits for the previous
 * one's lock on the order's row), so they commit in id order, and the claim's scan saw
 * every earlier one it did not skip. `waitingHead` is the first unstamped ids as read after
 * the claim, with the same limit: when every id in it up to the claim's last is the claim's
 * own, nothing was skipped. (If the head was cut off before the claim's last id, it holds
 * only the claim's ids and the claim is the whole head: the same conclusion.) Anything else
 * — a row another poller holds, one committed since — sends the batch to the query.
 */
export function claimSkippedNothing(events: OrderEvent[], waitingHead: string[]): boolean {
  const claimed = new Set(events.map((e) => e.eventId));
  const last = events.reduce((max, e) => (BigInt(e.eventId) > max ? BigInt(e.eventId) : max), 0n);
  for (const id of waitingHead) {
    if (BigInt(id) > last) return true;
    if (!claimed.has(id)) return false;
  }
  return true;
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
