/**
 * With binary logging on, MySQL lets an account without SUPER create a trigger only when
 * `log_bin_trust_function_creators` is 1; otherwise it answers error 1419 (SPEC §1).
 * Managed MySQL never grants SUPER, so on RDS this is a parameter-group setting.
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
}

export async function readBinaryLogging(knex: Knex): Promise<BinaryLogging> {
  const [rows] = (await knex.raw(
    'SELECT @@GLOBAL.log_bin AS logBin, @@GLOBAL.log_bin_trust_function_creators AS trust',
  )) as [{ logBin: number | string; trust: number | string }[]];
  return {
    logBin: Number(rows[0]?.logBin) === 1,
    trustFunctionCreators: Number(rows[0]?.trust) === 1,
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
