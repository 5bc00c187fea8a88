/**
 * The durable record of every push: one row per push, written by the poller when it hands
 * the push to BullMQ (in the transaction that stamps its outbox row) and settled by the
 * worker when the push is delivered or dead-lettered, before BullMQ is told the job is done.
 * So MySQL, not Redis, knows which pushes are still owed (`outcome IS NULL`): the
 * reconciler restores those Redis lost, `push dlq` lists and replays the dead letters, and
 * retention keeps the outbox rows of pushes not yet delivered.
 *
 * `PRIMARY KEY (event_id, scenario)`: a push is one scenario fired by one event (its key is
 * `evt-<event_id>-<scenario>`), new rows land at the end of the clustered index (event ids
 * grow), and "does this event still owe a push?" is a primary-key range. ascii_bin makes the
 * key's order the byte order JavaScript sorts by, so the poller's INSERT and the worker's
 * upsert lock rows in the same order.
 *
 * `push_outcomes_by_state (outcome, handed_off_at)` serves every other question, each an
 * index range: the owed pushes oldest first (the reconciler), how many are owed or
 * dead-lettered (metrics, `push migrate --down`), the dead letters (`push dlq`), delivered
 * rows past their retention. `order_id` is a copy of the orders id, typed like the outbox's
 * (src/db/copied-columns.ts).
 */
import { planCopiedColumns } from '../src/db/copied-columns.js';
import type { MigrationContext } from '../src/db/migration-context.js';
import type { SchemaSession } from '../src/db/schema-session.js';

export async function up(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  const columns = await planCopiedColumns(db.read, ctx);
  await db.change(`CREATE TABLE IF NOT EXISTS \`${ctx.outcomesTable}\` (
  event_id        BIGINT UNSIGNED NOT NULL,
  scenario        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idempotency_key VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  order_id        ${columns.definition(ctx.outcomesTable, 'order_id')},
  recipient_role  VARCHAR(16) NOT NULL,
  recipient_id    VARCHAR(32) NULL,
  channel         VARCHAR(16) NOT NULL,
  handed_off_at   TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  outcome         VARCHAR(16) NULL,
  attempts        SMALLINT UNSIGNED NULL,
  singer_status   SMALLINT UNSIGNED NULL,
  reason          VARCHAR(1000) NULL,
  singer_body     VARCHAR(1000) NULL,
  settled_at      TIMESTAMP(3) NULL,
  PRIMARY KEY (event_id, scenario),
  KEY push_outcomes_by_state (outcome, handed_off_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
}

export async function down(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  await db.change(`DROP TABLE IF EXISTS \`${ctx.outcomesTable}\``);
}
