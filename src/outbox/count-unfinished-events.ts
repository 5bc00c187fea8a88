/**
 * How many events push has not finished with: what `push migrate --down` would throw away.
 * Today an event is finished once it is handed off to BullMQ (handed_off_at set): from then
 * on its pushes live in Redis. When push records the outcome of each push in MySQL, an
 * event handed off whose pushes are not yet delivered or dead-lettered is unfinished too:
 * extend this count, it is the one `--down` asks.
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { ReadSql } from '../db/schema-session.js';

export async function countUnfinishedEvents(read: ReadSql): Promise<number> {
  try {
    // The claim index's NULL prefix: the rows not handed off, nothing else read.
    const [row] = await read<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM \`${OUTBOX_TABLE}\` WHERE handed_off_at IS NULL`,
    );
    return Number(row?.n ?? 0);
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return 0;
    throw err;
  }
}
