/**
 * Stamps claimed rows as handed off to BullMQ and commits the claim, in one round trip.
 * With no rows to stamp it only commits (releasing a claim that handed off nothing).
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { ClaimConnection } from './claim-connection.js';

export async function markHandedOffAndCommit(
  sql: ClaimConnection,
  eventIds: string[],
): Promise<void> {
  if (eventIds.length === 0) {
    await sql.query('COMMIT');
    return;
  }
  await sql.query(
    `UPDATE ${OUTBOX_TABLE} SET handed_off_at = CURRENT_TIMESTAMP(3)
      WHERE id IN (${eventIds.map(() => '?').join(',')}); COMMIT`,
    eventIds,
  );
}
