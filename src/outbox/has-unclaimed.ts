/**
 * Whether any outbox row waits to be claimed: one plain (non-locking) autocommit read on
 * the claim index. The poll loop asks this after an idle sleep before it opens a claim
 * transaction, so an idle poll costs one round trip instead of a whole claim cycle
 * (START TRANSACTION, SELECT … FOR UPDATE, COMMIT). That is what makes a short
 * POLL_INTERVAL_MS, and so low commit-to-push latency, cheap (docs/BENCHMARKS.md).
 * A row it sees may be held by another poller; the claim then skips it and finds nothing,
 * which is harmless.
 */
import { WAITING_HEAD_SQL } from './claim-batch.js';
import type { ClaimConnection } from './claim-connection.js';

export async function hasUnclaimedEvents(sql: ClaimConnection): Promise<boolean> {
  const rows = await sql.query<unknown[]>(WAITING_HEAD_SQL, [1]);
  return rows.length > 0;
}
