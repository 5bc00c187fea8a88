/**
 * The outbox. The triggers insert one row per order status change; pollers claim rows
 * whose handed_off_at is NULL and stamp it once BullMQ has accepted their pushes.
 *
 * The columns copied from `orders` take their types from it (src/db/copied-columns.ts), so
 * that no value the order service stores can fail its UPDATE through the trigger.
 *
 * `order_events_claim (handed_off_at, id)` serves the claim query: the NULL prefix is an
 * index range already in id order, so `WHERE handed_off_at IS NULL ORDER BY id LIMIT n`
 * reads exactly the rows it returns, with no sort (test/db/migrations.test.ts proves it
 * with EXPLAIN). The same index serves retention (`handed_off_at < ?`).
 * `order_events_by_order (order_id, id)` serves the per-order ordering check and
 * `push trace <orderId>`.
 *
 * Ids start at the creation time in milliseconds, not at 1: idempotency keys are built
 * from event ids, and an outbox dropped and created again must never reuse a key that
 * Singer (or BullMQ's completed jobs) still remembers, or real pushes would be dropped
 * as duplicates.
 */
import type { MigrationContext } from '../src/db/migration-context.js';
import { planCopiedColumns } from '../src/db/copied-columns.js';
import type { SchemaSession } from '../src/db/schema-session.js';

export async function up(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  const columns = await planCopiedColumns(db.read, ctx);
  const type = (column: string) => columns.definition(ctx.outboxTable, column);
  await db.change(`CREATE TABLE IF NOT EXISTS \`${ctx.outboxTable}\` (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  order_id      ${type('order_id')},
  patient_id    ${type('patient_id')},
  nurse_id      ${type('nurse_id')},
  from_status   ${type('from_status')},
  to_status     ${type('to_status')},
  from_reason   ${type('from_reason')},
  to_reason     ${type('to_reason')},
  created_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  handed_off_at TIMESTAMP(3) NULL DEFAULT NULL,
  PRIMARY KEY (id),
  KEY order_events_claim (handed_off_at, id),
  KEY order_events_by_order (order_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci AUTO_INCREMENT=${Date.now()}`);
}

export async function down(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  await db.change(`DROP TABLE IF EXISTS \`${ctx.outboxTable}\``);
}
