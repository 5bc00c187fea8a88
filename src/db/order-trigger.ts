/**
 * The trigger that feeds the outbox, and how `push migrate` puts it in place.
 *
 * One event per row whose status or status_reason changes, written in the order service's
 * own transaction (a rollback leaves no event). One statement, no DELIMITER (mysql2 sends
 * one statement at a time), no DEFINER (it runs as the migrating account, which is all RDS
 * allows). `<=>` is NULL-safe, so NULL → 'X' counts as a change and NULL → NULL does not.
 *
 * A status or reason longer than the outbox column holds — `orders` was widened after the
 * last migrate — is recorded cut to fit, ending in '~': no status code contains '~', so such
 * an event matches no scenario (SPEC §4), and the order's UPDATE never fails for it.
 *
 * Changing the trigger must not open a gap in which order changes commit with no trigger
 * (DROP, then CREATE). MariaDB replaces it in one statement, `CREATE OR REPLACE TRIGGER`,
 * under one exclusive metadata lock on `orders`. MySQL 8 has no OR REPLACE for triggers:
 * push takes `LOCK TABLES orders WRITE, order_events WRITE`, drops and creates, and unlocks,
 * so no write to `orders` can run in between (it waits for the lock, bounded like every
 * change; schema-session.ts). Both servers accept CREATE and DROP TRIGGER under LOCK TABLES
 * when the table is locked WRITE (sql/sql_trigger.cc, open_and_lock_subj_table: "Under LOCK
 * TABLES we must only accept write locked tables"). Two triggers side by side (FOLLOWS) would record every change
 * twice while both exist. The lock needs the LOCK TABLES privilege (README, grants).
 */
import type { MigrationContext } from './migration-context.js';
import { explainTriggerError } from './migration-error.js';
import type { ReadSql, SchemaSession } from './schema-session.js';

export const TRIGGER_NAME = 'push_order_events_after_update';

/** Characters the outbox keeps of a status and of a reason (copied-columns.ts). */
export interface TriggerClip {
  status: number;
  reason: number;
}

export function triggerSql(ctx: MigrationContext, clip: TriggerClip): string {
  const c = ctx.orderColumns;
  const fit = (value: string, chars: number) =>
    `IF(CHAR_LENGTH(${value}) > ${chars}, CONCAT(LEFT(${value}, ${chars - 1}), '~'), ${value})`;
  return `CREATE TRIGGER \`${TRIGGER_NAME}\` AFTER UPDATE ON \`${ctx.ordersTable}\` FOR EACH ROW
BEGIN
  IF NOT (OLD.\`${c.status}\` <=> NEW.\`${c.status}\`)
     OR NOT (OLD.\`${c.statusReason}\` <=> NEW.\`${c.statusReason}\`) THEN
    INSERT INTO \`${ctx.outboxTable}\`
      (order_id, patient_id, nurse_id, from_status, to_status, from_reason, to_reason)
    VALUES
      (NEW.\`${c.id}\`, NEW.\`${c.patientId}\`, NEW.\`${c.nurseId}\`,
       ${fit(`OLD.\`${c.status}\``, clip.status)},
       ${fit(`NEW.\`${c.status}\``, clip.status)},
       ${fit(`OLD.\`${c.statusReason}\``, clip.reason)},
       ${fit(`NEW.\`${c.statusReason}\``, clip.reason)});
  END IF;
END`;
}

/** What follows `FOR EACH ROW`: what information_schema.TRIGGERS shows as ACTION_STATEMENT. */
export function triggerBodyOf(sql: string): string {
  const marker = 'FOR EACH ROW';
  return sql.slice(sql.indexOf(marker) + marker.length).trim();
}

/** Whitespace aside: the server keeps the body as sent, but editors and clients re-indent. */
export function normalizeSql(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

export interface InstalledTrigger {
  table: string;
  timing: string;
  event: string;
  body: string;
}

export async function readInstalledTrigger(read: ReadSql): Promise<InstalledTrigger | undefined> {
  const [row] = await read<InstalledTrigger>(
    `SELECT EVENT_OBJECT_TABLE AS \`table\`, ACTION_TIMING AS timing,
            EVENT_MANIPULATION AS event, ACTION_STATEMENT AS body
       FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?`,
    [TRIGGER_NAME],
  );
  return row;
}

export function isAsDefined(
  installed: InstalledTrigger,
  ctx: MigrationContext,
  clip: TriggerClip,
): boolean {
  return (
    installed.table === ctx.ordersTable &&
    installed.timing === 'AFTER' &&
    installed.event === 'UPDATE' &&
    normalizeSql(installed.body ?? '') === normalizeSql(triggerBodyOf(triggerSql(ctx, clip)))
  );
}

/** The trigger as this version defines it: created, replaced without a gap, or left alone. */
export async function installTrigger(
  db: SchemaSession,
  ctx: MigrationContext,
  clip: TriggerClip,
): Promise<void> {
  const installed = await readInstalledTrigger(db.read);
  const sql = triggerSql(ctx, clip);
  try {
    if (!installed) {
      await db.change(sql);
    } else if (!isAsDefined(installed, ctx, clip)) {
      await replaceTrigger(db, ctx, installed, sql);
    }
  } catch (err) {
    throw explainTriggerError(err);
  }
}

async function replaceTrigger(
  db: SchemaSession,
  ctx: MigrationContext,
  installed: InstalledTrigger,
  sql: string,
): Promise<void> {
  if (db.flavor === 'MariaDB') {
    await db.change(sql.replace(/^CREATE TRIGGER /, 'CREATE OR REPLACE TRIGGER '));
    return;
  }
  await replaceUnderLockTables(db, ctx, installed, sql);
}

/**
 * MySQL 8's way (also valid on MariaDB, where the tests run it). If CREATE fails after DROP,
 * the old trigger is put back before the tables are unlocked, so a refused change (a typo, a
 * missing privilege) leaves the old trigger recording rather than none.
 */
export async function replaceUnderLockTables(
  db: SchemaSession,
  ctx: MigrationContext,
  installed: InstalledTrigger,
  sql: string,
): Promise<void> {
  const tables = [...new Set([installed.table, ctx.ordersTable, ctx.outboxTable])];
  await db.change(`LOCK TABLES ${tables.map((t) => `\`${t}\` WRITE`).join(', ')}`);
  try {
    await db.change(`DROP TRIGGER \`${TRIGGER_NAME}\``);
    try {
      await db.change(sql);
    } catch (err) {
      await db.change(
        `CREATE TRIGGER \`${TRIGGER_NAME}\` ${installed.timing} ${installed.event} ON \`${installed.table}\` FOR EACH ROW ${installed.body}`,
      );
      throw err;
    }
  } finally {
    await db.change('UNLOCK TABLES');
  }
}
