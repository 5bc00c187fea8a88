/**
 * The account's privileges on the database, from SHOW GRANTS, counting the roles active at
 * login (what every session push opens gets). push needs ordinary table privileges plus
 * TRIGGER (SPEC §1), on MySQL also LOCK TABLES, and nothing global: it reads no binlog, so
 * no REPLICATION SLAVE / REPLICATION CLIENT, which managed MySQL does not hand out. (RDS for
 * MySQL 8.0.36 and later gives its master user its privileges through the role
 * rds_superuser_role.)
 */
import type { Knex } from 'knex';
import { serverFlavorOf, type ServerVersion } from '../db/server-version.js';
import { fail, ok, type CheckResult } from './check-result.js';
import {
  hasGlobalPrivilege,
  parseGrants,
  parseRoleList,
  privilegesOnDatabase,
  tableGrantsIn,
  type ParsedGrants,
} from './parse-grants.js';

const CHECK = 'grants';

/** Every privilege push uses on its database, what for, and on which server if not both. */
export const NEEDED_PRIVILEGES: ReadonlyArray<
  [privilege: string, why: string, onlyOn?: ServerVersion['flavor']]
> = [
  ['SELECT', 'claim outbox rows, read orders and nurses'],
  [
    'INSERT',
    'the trigger writes order_events; the poller and worker write push_outcomes, push_attempts',
  ],
  ['UPDATE', 'stamp outbox rows as handed off; settle and replay push_outcomes'],
  ['DELETE', 'retention removes old outbox, trace and outcome rows'],
  ['CREATE', 'migrations create order_events, push_attempts and push_outcomes'],
  ['DROP', '`push migrate --down` drops them'],
  ['ALTER', 'migrations change push tables'],
  ['INDEX', 'migrations index the outbox'],
  ['TRIGGER', 'migrations create the trigger on orders'],
  [
    'LOCK TABLES',
    '`push migrate` locks orders for the moment it replaces the trigger, so that no change ' +
      'goes unrecorded (MySQL has no CREATE OR REPLACE TRIGGER)',
    'MySQL',
  ],
];

const NO_REPLICATION_NOTE =
  'no REPLICATION SLAVE / REPLICATION CLIENT grant is needed: push reads the outbox table, not the binlog';

export interface AccountGrants {
  /** From CURRENT_USER(): the account the server matched, e.g. push_app@%. */
  user: string;
  host: string;
  database: string;
  flavor: ServerVersion['flavor'];
  /** The account's grants and those of its active roles. */
  grants: ParsedGrants;
  /** Roles active in this session, i.e. at login (default or mandatory roles), unquoted. */
  activeRoles: string[];
}

export async function readAccountGrants(knex: Knex): Promise<AccountGrants> {
  const [who] = (await knex.raw(
    'SELECT CURRENT_USER() AS account, DATABASE() AS db, CURRENT_ROLE() AS role, VERSION() AS version',
  )) as [{ account: string; db: string | null; role: string | null; version: string }[]];
  const account = who[0]?.account ?? '';
  const at = account.lastIndexOf('@');
  // MySQL 8: CURRENT_ROLE() is 'NONE' or `r1`@`%`,`r2`@`%`, and SHOW GRANTS expands only the
  // roles named in USING. MariaDB: NULL or the role's bare name, and SHOW GRANTS without FOR
  // includes the current role's grants (FOR CURRENT_USER does not).
  const role = who[0]?.role ?? null;
  const hasActiveRole = role !== null && role !== '' && role !== 'NONE';
  const isMariaDb = /mariadb/i.test(who[0]?.version ?? '');
  const showGrants = !hasActiveRole
    ? 'SHOW GRANTS FOR CURRENT_USER'
    : isMariaDb
      ? 'SHOW GRANTS'
      : // The server's own quoting of the role names, so they go back into SQL as they came.
        `SHOW GRANTS FOR CURRENT_USER() USING ${role}`;
  let rows: Record<string, string>[];
  let expanded = hasActiveRole;
  try {
    [rows] = (await knex.raw(showGrants)) as [Record<string, string>[]];
  } catch (err) {
    // USING names only roles granted to the account; should the server disagree about one
    // (a mandatory role, say), the account's own grants still say most of what is needed.
    if (!hasActiveRole) throw err;
    expanded = false;
    [rows] = (await knex.raw('SHOW GRANTS FOR CURRENT_USER')) as [Record<string, string>[]];
  }
  return {
    user: at < 0 ? account : account.slice(0, at),
    host: at < 0 ? '%' : account.slice(at + 1),
    database: who[0]?.db ?? '',
    flavor: serverFlavorOf(who[0]?.version ?? ''),
    grants: parseGrants(rows.map((row) => Object.values(row)[0] ?? '')),
    activeRoles: expanded && role !== null ? parseRoleList(role) : [],
  };
}

export function hasSuper(account: AccountGrants): boolean {
  return hasGlobalPrivilege(account.grants, 'SUPER');
}

/** Whether information_schema.TRIGGERS shows this account the triggers on the database. */
export function canSeeTriggers(account: AccountGrants): boolean {
  return missingPrivileges(account).every((name) => name !== 'TRIGGER');
}

function neededOn(flavor: ServerVersion['flavor']) {
  return NEEDED_PRIVILEGES.filter(([, , onlyOn]) => onlyOn === undefined || onlyOn === flavor);
}

export function missingPrivileges(account: AccountGrants): string[] {
  const held = privilegesOnDatabase(account.grants, account.database);
  if (held.has('ALL PRIVILEGES')) return [];
  return neededOn(account.flavor)
    .map(([name]) => name)
    .filter((name) => !held.has(name));
}

export function judgeGrants(account: AccountGrants): CheckResult {
  const who = `${account.user}@${account.host}`;
  const db = `\`${account.database}\``;
  const missing = missingPrivileges(account);
  const notes = [NO_REPLICATION_NOTE, ...roleNotes(account)];
  const onTables = tableGrantsIn(account.grants, account.database);
  if (onTables.length > 0) {
    notes.push(
      `grants on single tables (${onTables.map((s) => s.table).join(', ')}) are not counted: ` +
        'push creates its own tables, so it needs the privileges on the whole database',
    );
  }
  if (missing.length === 0) {
    return ok(
      CHECK,
      `${who} has what push needs on ${db}: ${neededOn(account.flavor)
        .map(([p]) => p)
        .join(', ')}`,
      notes,
    );
  }
  const why = NEEDED_PRIVILEGES.filter(([name]) => missing.includes(name)).map(
    ([name, reason]) => `missing ${name}: ${reason}`,
  );
  return fail(
    CHECK,
    `${who} lacks ${missing.join(', ')} on ${db}`,
    `as an administrator: GRANT ${missing.join(', ')} ON ${grantDatabase(account.database)}.* TO ${quoteAccount(account)};`,
    [...why, ...notes],
  );
}

/** What the check made of roles: counted when active at login, otherwise named and not counted. */
function roleNotes(account: AccountGrants): string[] {
  const active = new Set(account.activeRoles);
  const inactive = account.grants.roles.filter((role) => !active.has(role));
  const notes: string[] = [];
  if (active.size > 0) {
    notes.push(`counted the privileges of the roles active at login: ${[...active].join(', ')}`);
  }
  if (inactive.length > 0) {
    notes.push(
      `roles granted but not active at login are not counted (${inactive.join(', ')}): push's ` +
        'sessions get their privileges only as default roles: SET DEFAULT ROLE ALL TO ' +
        `${quoteAccount(account)} (MySQL), SET DEFAULT ROLE <role> FOR ${quoteAccount(account)} (MariaDB)`,
    );
  }
  return notes;
}

export async function checkGrants(
  knex: Knex,
): Promise<{ result: CheckResult; account: AccountGrants }> {
  const account = await readAccountGrants(knex);
  return { result: judgeGrants(account), account };
}

/** In GRANT, `_` and `%` in a database name are wildcards; escape them to name just this one. */
function grantDatabase(database: string): string {
  return `\`${database.replace(/`/g, '``').replace(/[_%]/g, '\\$&')}\``;
}

function quoteAccount(account: AccountGrants): string {
  const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;
  return `${quote(account.user)}@${quote(account.host)}`;
}
