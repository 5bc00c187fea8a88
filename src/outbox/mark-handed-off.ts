/** Stamps claimed rows as handed off to BullMQ, in the claim's transaction. */
import type { Knex } from 'knex';
import { OUTBOX_TABLE } from '../db/migration-context.js';

export async function markHandedOff(trx: Knex.Transaction, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await trx.raw(
    `UPDATE ${OUTBOX_TABLE} SET handed_off_at = CURRENT_TIMESTAMP(3)
      WHERE id IN (${eventIds.map(() => '?').join(',')})`,
    eventIds,
  );
}
