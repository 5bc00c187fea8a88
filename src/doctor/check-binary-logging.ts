/**
 * With binary logging on, MySQL lets an account without SUPER create a trigger only when
 * `log_bin_trust_function_creators` is 1; otherwise it answers error 1419 (SPEC §1).
 * Managed MySQL never grants SUPER, so on RDS this is a parameter-group setting.
 *
 * The poller's session is READ COMMITTED (claim-connection.ts), and InnoDB cannot log a
 * READ COMMITTED write as a statement: with `binlog_format = STATEMENT` every claim's UPDATE
 * fails with error 1665, so nothing is ever handed off. ROW (MySQL 8's default) and MIXED work;
 * an application account may not change its own session's format on managed MySQL.
 */
import type { Knex } from 'knex';
import { fail, ok, type CheckResult } from './check-result.js';

const CHECK = 'binary logging';

export const TRUST_FIX = [
  'set the server parameter log_bin_trust_function_creators = 1, then run `npx push migrate`:',
  '  AWS RDS: in the DB parameter group attached to the instance (a dynamic parameter: no reboot)',
  '  Aliyun RDS: console → Parameters → log_bin_trust_function_creators = ON',
  '  self-managed: SET GLOBAL log_bin_trust_function_creators = 1; and the same line in my.cnf',
].join('\n');

export interface BinaryLogging {
  logBin: boolean;
  trustFunctionCreators: boolean;
  /** ROW, MIXED or STATEMENT. */
  format: string;
}

export async function readBinaryLogging(knex: Knex): Promise<BinaryLogging> {
  const [rows] = (await knex.raw(
    'SELECT @@GLOBAL.log_bin AS logBin, @@GLOBAL.log_bin_trust_function_creators AS trust, ' +
      '@@GLOBAL.binlog_format AS format',
  )) as [{ logBin: number | string; trust: number | string; format: string }[]];
  return {
    logBin: Number(rows[0]?.logBin) === 1,
    trustFunctionCreators: Number(rows[0]?.trust) === 1,
    format: String(rows[0]?.format ?? '').toUpperCase(),
  };
}

export function judgeBinaryLogging(state: BinaryLogging, accountHasSuper: boolean): CheckResult {
  const settings = `log_bin = ${onOff(state.logBin)}, log_bin_trust_function_creators = ${onOff(state.trustFunctionCreators)}`;
  if (!state.logBin) {
    return ok(
      CHECK,
      `${settings}: with binary logging off, creating the trigger needs nothing more`,
      [
        'if binary logging is turned on later (as on RDS), migrating will need log_bin_trust_function_creators = 1',
      ],
    );
  }
  if (state.format === 'STATEMENT') {
    return fail(
      CHECK,
      `${settings}, binlog_format = STATEMENT: every claim fails with error 1665, so no push goes out`,
      [
        'set the server parameter binlog_format = ROW (or MIXED):',
        '  AWS RDS: in the DB parameter group; Aliyun RDS: console → Parameters',
        '  self-managed: SET GLOBAL binlog_format = ROW; and the same line in my.cnf',
      ].join('\n'),
      [
        "the poller's claims run at READ COMMITTED, which InnoDB can log only row by row",
        ...(state.trustFunctionCreators || accountHasSuper
          ? []
          : ['log_bin_trust_function_creators must also be 1 to migrate (error 1419 otherwise)']),
      ],
    );
  }
  if (state.trustFunctionCreators) {
    return ok(CHECK, `${settings}: migrations can create the trigger without SUPER`);
  }
  if (accountHasSuper) {
    return ok(CHECK, `${settings}, but this account has SUPER, so it can create the trigger`, [
      'an account without SUPER (as on RDS) would need log_bin_trust_function_creators = 1',
    ]);
  }
  return fail(
    CHECK,
    `${settings} and this account has no SUPER: creating the trigger fails with error 1419`,
    TRUST_FIX,
    [
      'this only matters for migrating (creating or replacing the trigger): a trigger already in ' +
        'place keeps recording events, and the running service does not need the setting',
    ],
  );
}

function onOff(value: boolean): string {
  return value ? 'ON' : 'OFF';
}

export async function checkBinaryLogging(
  knex: Knex,
  accountHasSuper: boolean,
): Promise<CheckResult> {
  return judgeBinaryLogging(await readBinaryLogging(knex), accountHasSuper);
}
