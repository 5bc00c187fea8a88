/**
 * The delivery trace: one row per attempt to deliver a push (delivered, retry or dead),
 * so support can answer "did the patient get told?" with `push trace <orderId>`.
 * Written in batches by the worker (src/delivery/attempt-recorder.ts), off the hot path.
 */
import { planCopiedColumns } from '../src/db/copied-columns.js';
import type { MigrationContext } from '../src/db/migration-context.js';
import type { SchemaSession } from '../src/db/schema-session.js';

export async function up(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  const columns = await planCopiedColumns(db.read, ctx);
  await db.change(`CREATE TABLE IF NOT EXISTS \`${ctx.attemptsTable}\` (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_id        BIGINT UNSIGNED NOT NULL,
  order_id        ${columns.definition(ctx.attemptsTable, 'order_id')},
  idempotency_key VARCHAR(100) NOT NULL,
  scenario        VARCHAR(64) NOT NULL,
  recipient_role  VARCHAR(16) NOT NULL,
  recipient_id    VARCHAR(32) NULL,
  channel         VARCHAR(16) NOT NULL,
  attempt         SMALLINT UNSIGNED NOT NULL,
  outcome         VARCHAR(16) NOT NULL,
  singer_status   SMALLINT UNSIGNED NULL,
  error           VARCHAR(1000) NULL,
  duration_ms     INT UNSIGNED NULL,
  attempted_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY push_attempts_by_order (order_id, event_id),
  KEY push_attempts_by_time (attempted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
}

export async function down(db: SchemaSession, ctx: MigrationContext): Promise<void> {
  await db.change(`DROP TABLE IF EXISTS \`${ctx.attemptsTable}\``);
}
