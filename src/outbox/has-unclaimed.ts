/**
 * Whether any outbox row waits to be claimed: one plain (non-locking) autocommit read on
 * the claim index. The poll loop asks this after an idle sleep before it opens a claim
 * transaction, so an idle poll costs one round trip instead of a whole claim cycle
 * (START TRANSACTION, SELECT … FOR UPDATE, COMMIT). That is what makes a short
 * POLL_INTERVAL_MS, and so low commit-to-push latency, cheap (docs/BENCHMARKS.md).
 * A row it sees may be held by another poller; the claim then skips it and finds nothing,
 * which is harmless.
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { ClaimConnection } from './claim-connection.js';

/** Exported so test/db/migrations.test.ts can EXPLAIN exactly what the poller runs. */
export const HAS_UNCLAIMED_SQL = `SELECT id FROM ${OUTBOX_TABLE} WHERE handed_off_at IS NULL ORDER BY id LIMIT 1`;

export async function hasUnclaimedEvents(sql: ClaimConnection): Promise<boolean> {
  const rows = await sql.query<unknown[]>(HAS_UNCLAIMED_SQL);
  return rows.length > 0;
}
