// The application account every test of the product logs in with: what an operator creates on
// RDS (README, "Database account and RDS"). Table privileges plus TRIGGER on one database,
// nothing on *.*, no SUPER, no REPLICATION, and a password full of characters that must be
// percent-encoded in DATABASE_URL. Root only creates it, and sets up or inspects around it.
import { randomBytes } from 'node:crypto';

/** Exactly the README's grants. */
export const APP_GRANTS = 'SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER';

export interface AppAccount {
  user: string;
  /** Contains @ : / ? # % + & = and a space, so a URL carries it only percent-encoded. */
  password: string;
}

export function newAppAccount(user = `push_app_${randomBytes(4).toString('hex')}`): AppAccount {
  return { user, password: `p@ss:w/rd?#%+& =${randomBytes(6).toString('hex')}` };
}

/**
 * The statements that create the account and grant it `database`. `nativePassword` for MySQL 8
 * over plain TCP, where caching_sha2_password would need an RSA key exchange first.
 */
export function createAppAccountSql(
  account: AppAccount,
  database: string,
  { nativePassword = false }: { nativePassword?: boolean } = {},
): string[] {
  const user = `'${account.user}'@'%'`;
  const password = account.password.replace(/'/g, "''");
  return [
    `CREATE USER ${user} IDENTIFIED ${nativePassword ? 'WITH mysql_native_password ' : ''}BY '${password}'`,
    `GRANT ${APP_GRANTS} ON \`${database}\`.* TO ${user}`,
  ];
}

export function dropAppAccountSql(account: AppAccount): string {
  return `DROP USER IF EXISTS '${account.user}'@'%'`;
}

/** `serverUrl` (any account) with the app account, percent-encoded, and `database` as its path. */
export function appUrlOf(serverUrl: string, account: AppAccount, database: string): string {
  const url = new URL(serverUrl);
  url.username = encodeURIComponent(account.user);
  url.password = encodeURIComponent(account.password);
  url.pathname = `/${database}`;
  return url.toString();
}
