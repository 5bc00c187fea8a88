// The login part of a MySQL URL, for the tests' own connections (setup, inspection, the order
// service's side): host, account, password and TLS as src/db/database-url.ts reads them for the
// product, so a TEST_DATABASE_URL with ?ssl-mode=… (the CI workflow's MySQL 8 jobs) is honoured
// by every connection, not only the product's. Nothing else of the product's options (big
// numbers as strings, UTC): tests see rows as a plain client would.
import type { ConnectionOptions } from 'mysql2';
import { createConnection } from 'mysql2/promise';
import { asksForTls, databaseTlsOf, mysqlConnectionOptions } from '../../src/db/database-url.js';

export function mysqlLogin(url: string): ConnectionOptions {
  const { host, port, user, password, database, ssl, stream } = mysqlConnectionOptions(url);
  return { host, port, user, password, database, ssl, stream };
}

/** Whether connections to this URL are encrypted (its ssl-mode is set and not DISABLED). */
export function usesTls(url: string): boolean {
  return asksForTls(databaseTlsOf(url));
}

/** Runs `statements` one by one on a connection of their own (setup and inspection). */
export async function runStatements(url: string, statements: string[]): Promise<void> {
  const connection = await createConnection({ ...mysqlLogin(url), connectTimeout: 5_000 });
  try {
    for (const statement of statements) await connection.query(statement);
  } finally {
    await connection.end();
  }
}
