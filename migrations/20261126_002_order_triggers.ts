/**
 * The trigger that feeds the outbox: one event per row whose status or status_reason
 * changes, written in the order service's own transaction (a rollback leaves no event).
 *
 * One statement per knex.raw and no DELIMITER: mysql2 sends one statement at a time.
 * No DEFINER clause: the trigger runs as the migrating account, which is all RDS allows.
 * `<=>` is NULL-safe, so NULL → 'X' counts as a change and NULL → NULL does not.
 */
import type { Knex } from 'knex';
import type { MigrationContext } from '../src/db/migration-context.js';
import { assertOrdersColumns, explainTriggerError } from '../src/db/trigger-preflight.js';

export const TRIGGER_NAME = 'push_order_events_after_update';

export function triggerSql(ctx: MigrationContext): string {
  const c = ctx.orderColumns;
  return `CREATE TRIGGER \`${TRIGGER_NAME}\` AFTER UPDATE ON \`${ctx.ordersTable}\` FOR EACH ROW
BEGIN
  IF NOT (OLD.\`${c.status}\` <=> NEW.\`${c.status}\`)
     OR NOT (OLD.\`${c.statusReason}\` <=> NEW.\`${c.statusReason}\`) THEN
    INSERT INTO \`${ctx.outboxTable}\`
      (order_id, patient_id, nurse_id, from_status, to_status, from_reason, to_reason)
    VALUES
      (NEW.\`${c.id}\`, NEW.\`${c.patientId}\`, NEW.\`${c.nurseId}\`,
       OLD.\`${c.status}\`, NEW.\`${c.status}\`, OLD.\`${c.statusReason}\`, NEW.\`${c.statusReason}\`);
  END IF;
END`;
}

export async function up(knex: Knex, ctx: MigrationContext): Promise<void> {
  await assertOrdersColumns(knex, ctx);
  try {
    await knex.raw(`DROP TRIGGER IF EXISTS \`${TRIGGER_NAME}\``);
    await knex.raw(triggerSql(ctx));
  } catch (err) {
    throw explainTriggerError(err);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TRIGGER IF EXISTS \`${TRIGGER_NAME}\``);
}
