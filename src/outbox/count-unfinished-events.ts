/**
 * How many events push has not finished with: what `push migrate --down` would throw away.
 * An event is unfinished until it is handed off to BullMQ (handed_off_at set) and then until
 * every one of its pushes has an outcome (push_outcomes: delivered or dead-lettered): a
 * push still owed lives only in Redis and in those rows, which --down drops.
 */
import { OUTBOX_TABLE, OUTCOMES_TABLE } from '../db/migration-context.js';
import type { ReadSql } from '../db/schema-session.js';

export async function countUnfinishedEvents(read: ReadSql): Promise<number> {
  // The claim index's NULL prefix: the rows not handed off, nothing else read.
  const unclaimed = await countOrNone(
    read,
    `SELECT COUNT(*) AS n FROM \`${OUTBOX_TABLE}\` WHERE handed_off_at IS NULL`,
  );
  // push_outcomes_by_state's NULL prefix: the owed pushes; their events, once each.
  const owed = await countOrNone(
    read,
    `SELECT COUNT(DISTINCT event_id) AS n FROM \`${OUTCOMES_TABLE}\` WHERE outcome IS NULL`,
  );
  return unclaimed + owed;
}

/** 0 while the table does not exist (not migrated yet, or by a version without it). */
async function countOrNone(read: ReadSql, sql: string): Promise<number> {
  try {
    const [row] = await read<{ n: number | string }>(sql);
    return Number(row?.n ?? 0);
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return 0;
    throw err;
  }
}
