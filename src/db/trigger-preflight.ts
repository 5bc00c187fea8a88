/**
 * Checks made before the migrations touch the order service's table, and the one MySQL
 * error that needs translating into an operator's to-do.
 */
import type { Knex } from 'knex';
import type { MigrationContext } from './migration-context.js';
import { PlainError } from '../plain-error.js';

export class MigrationError extends PlainError {
  override name = 'MigrationError';
}

export async function assertOrdersColumns(knex: Knex, ctx: MigrationContext): Promise<void> {
  const [rows] = (await knex.raw(
    `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [ctx.ordersTable],
  )) as [{ name: string }[]];
  if (rows.length === 0) {
    throw new MigrationError(
      `table \`${ctx.ordersTable}\` does not exist in this database: push adds its trigger to ` +
        "the order service's orders table (set ORDERS_TABLE if it has another name)",
    );
  }
  const present = new Set(rows.map((r) => r.name.toLowerCase()));
  for (const column of Object.values(ctx.orderColumns)) {
    if (!present.has(column.toLowerCase())) {
      throw new MigrationError(
        `table \`${ctx.ordersTable}\` has no column \`${column}\`; push's trigger reads ` +
          `${Object.values(ctx.orderColumns).join(', ')} (SPEC §2)`,
      );
    }
  }
}

/** MySQL/MariaDB error 1419: binary logging on, no SUPER, trust flag off. */
export const ER_BINLOG_CREATE_ROUTINE_NEED_SUPER = 1419;

export function explainTriggerError(err: unknown): Error {
  if ((err as { errno?: number }).errno !== ER_BINLOG_CREATE_ROUTINE_NEED_SUPER) {
    return err instanceof Error ? err : new Error(String(err));
  }
  return new MigrationError(
    [
      'MySQL refused to create the trigger (error 1419): binary logging is on, this account has',
      'no SUPER privilege, and log_bin_trust_function_creators is 0.',
      '',
      'Managed MySQL never grants SUPER; instead set the server parameter',
      '  log_bin_trust_function_creators = 1',
      '  - AWS RDS / Aurora: in the DB parameter group attached to the instance (dynamic, no reboot);',
      '  - Aliyun RDS: console → Parameters → log_bin_trust_function_creators = ON;',
      '  - self-managed: SET GLOBAL log_bin_trust_function_creators = 1, and in my.cnf.',
      'then run `npm run migrate` again. The account needs only table privileges plus TRIGGER;',
      'push reads no binlog, so no REPLICATION SLAVE / REPLICATION CLIENT grant is needed.',
    ].join('\n'),
    { cause: err },
  );
}
