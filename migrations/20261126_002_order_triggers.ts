/**
 * The trigger that feeds the outbox (src/db/order-trigger.ts), put in place by the
 * alignment with `orders` that every later migrate repeats (src/db/align-with-orders.ts).
 */
import { alignWithOrders } from '../src/db/align-with-orders.js';
import type { MigrationContext } from '../src/db/migration-context.js';
import { TRIGGER_NAME } from '../src/db/order-trigger.js';
import type { SchemaSession } from '../src/db/schema-session.js';

export async function up(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  // Problems left for a person are reported by the alignment that follows every migrate.
  await alignWithOrders(db, ctx);
}

export async function down(db: SchemaSession): Promise<void> {
  await db.change(`DROP TRIGGER IF EXISTS \`${TRIGGER_NAME}\``);
}
