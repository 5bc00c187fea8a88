/**
 * A migration that cannot go on, in words an operator can act on; and the one MySQL error
 * of creating the trigger that needs translating into a to-do.
 */
import { PlainError } from '../plain-error.js';

export class MigrationError extends PlainError {
  override name = 'MigrationError';
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
