/**
 * Records the claimed rows' pushes as owed (push_outcomes), stamps the rows as handed off to
 * BullMQ and commits the claim, in one round trip: MySQL learns which pushes it is owed in
 * the same transaction that says BullMQ has them, at no extra round trip. With no rows to
 * stamp it only commits (releasing a claim that handed off nothing).
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import { insertOwedSql } from '../outcomes/outcome-rows.js';
import type { PushJob } from '../scenarios/types.js';
import type { ClaimConnection } from './claim-connection.js';

export async function markHandedOffAndCommit(
  sql: ClaimConnection,
  eventIds: string[],
  pushes: PushJob[] = [],
): Promise<void> {
  if (eventIds.length === 0) {
    await sql.query('COMMIT');
    return;
  }
  const owed = pushes.length > 0 ? insertOwedSql(pushes) : { sql: '', values: [] };
  await sql.query(
    `${owed.sql ? `${owed.sql}; ` : ''}UPDATE ${OUTBOX_TABLE} SET handed_off_at = CURRENT_TIMESTAMP(3)
      WHERE id IN (${eventIds.map(() => '?').join(',')}); COMMIT`,
    [...owed.values, ...eventIds],
  );
}
