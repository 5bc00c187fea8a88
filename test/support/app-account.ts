// The application account every test of the product logs in with: what an operator creates on
// RDS (README, "Database account and RDS"). Table privileges plus TRIGGER on one database,
// nothing on *.*, no SUPER, no REPLICATION, and a password full of characters that must be
// percent-encoded in DATABASE_URL. Root only creates it, and sets up or inspects around it.
import { randomBytes } from 'node:crypto';

/** Exactly the README's grants. */
export const APP_GRANTS =
  'SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER, LOCK TABLES';

export interface AppAccount {
  user: string;
  /** Contains @ : / ? # % + & = and a space, so a URL carries it only percent-encoded. */
  password: string;
}

export function newAppAccount(user = `push_app_${randomBytes(4).toString('hex')}`): AppAccount {
  return { user, password: `p@ss:w/rd?#%+& =${randomBytes(6).toString('hex')}` };
}

/**
 * The statements that create the account and grant it `database`. The server's default
 * authentication plugin: caching_sha2_password on MySQL 8 (mysql_native_password is off by
 * default in 8.4), which mysql2 completes over TLS, or over plain TCP with the server's RSA
 * key. `requireTls` adds REQUIRE SSL, as an operator does when every session must be encrypted.
 */
export function createAppAccountSql(
  account: AppAccount,
  database: string,
  { requireTls = false }: { requireTls?: boolean } = {},
): string[] {
  const user = `'${account.user}'@'%'`;
  const password = account.password.replace(/'/g, "''");
  return [
    `CREATE USER ${user} IDENTIFIED BY '${password}'${requireTls ? ' REQUIRE SSL' : ''}`,
    `GRANT ${APP_GRANTS} ON \`${database}\`.* TO ${user}`,
  ];
}

export function dropAppAccountSql(account: AppAccount): string {
  return `DROP USER IF EXISTS '${account.user}'@'%'`;
}

/**
 * `serverUrl` (any account) with the app account, percent-encoded, and `database` as its path;
 * its query (?ssl-mode=…&ssl-ca=…) is kept, so the account connects as the server URL says.
 */
export function appUrlOf(serverUrl: string, account: AppAccount, database: string): string {
  const url = new URL(serverUrl);
  url.username = encodeURIComponent(account.user);
  url.password = encodeURIComponent(account.password);
  url.pathname = `/${database}`;
  return url.toString();
}
