/**
 * The backlog: outbox rows no poller has claimed yet, and how long the oldest has waited.
 * Read by the metrics at every scrape of every process and by `push doctor`, so both
 * reads are bounded on any outbox, however large: they walk the claim index
 * `(handed_off_at, id)` and stop. `COUNT(*) … WHERE handed_off_at IS NULL` would read
 * every unclaimed entry — a million index entries when the pollers have been down a while,
 * on every scrape of every replica — and `MIN(created_at)` would read all their rows.
 * test/outbox/read-backlog.test.ts EXPLAINs both on a million-row outbox.
 */
import type { Knex } from 'knex';
import { OUTBOX_TABLE } from '../db/migration-context.js';

/** Counts at most `cap` + 1 index entries; answers `cap` + 1 for "more than cap". */
export const COUNT_UNCLAIMED_SQL = `SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM ${OUTBOX_TABLE} WHERE handed_off_at IS NULL LIMIT ?) AS unclaimed`;

/**
 * The next row a poller takes (the first in id order) and its age by MySQL's own clock, so
 * that a push host's clock does not enter it: one index entry and one row.
 */
export const OLDEST_UNCLAIMED_SQL = `SELECT TIMESTAMPDIFF(MICROSECOND, created_at, CURRENT_TIMESTAMP(3)) AS age_us
    FROM ${OUTBOX_TABLE} WHERE handed_off_at IS NULL ORDER BY id LIMIT 1`;

/** Unclaimed events, counted up to `cap`: a result above `cap` means "more than cap". */
export async function countUnclaimed(knex: Knex, cap: number): Promise<number> {
  const [rows] = (await knex.raw(COUNT_UNCLAIMED_SQL, [cap + 1])) as [{ n: number | string }[]];
  return Number(rows[0]?.n ?? 0);
}

/** Seconds the oldest unclaimed event has waited; undefined when nothing waits. */
export async function oldestUnclaimedAgeSeconds(knex: Knex): Promise<number | undefined> {
  const [rows] = (await knex.raw(OLDEST_UNCLAIMED_SQL)) as [{ age_us: number | string }[]];
  const row = rows[0];
  return row === undefined ? undefined : Math.max(0, Number(row.age_us) / 1e6);
}
