/**
 * Outboxes created before this version have VARCHAR(32) statuses and BIGINT UNSIGNED ids
 * whatever `orders` has, and a trigger that fails the order's UPDATE on a longer status.
 * This brings them in line with `orders` (src/db/align-with-orders.ts): copied columns
 * widened where they cannot hold every value (online, or left for a DBA when only a table
 * copy can do it), and the trigger replaced, without a gap, by one that cuts what does not
 * fit. Every later `push migrate` runs the same alignment again, for drift.
 *
 * Nothing to revert: narrowing the columns again could cut events already recorded, and
 * `push migrate --down` drops the trigger with migration 002.
 */
import { alignWithOrders } from '../src/db/align-with-orders.js';
import type { MigrationContext } from '../src/db/migration-context.js';
import type { SchemaSession } from '../src/db/schema-session.js';

export async function up(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  // Problems left for a person are reported by the alignment that follows every migrate.
  await alignWithOrders(db, ctx);
}

export async function down(): Promise<void> {}
