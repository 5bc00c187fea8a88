/**
 * One knex instance per process, on mysql2. Ids come back as strings (BIGINT UNSIGNED
 * does not fit a JS number) and times in UTC, so nothing depends on the host's zone.
 */
import knexFactory, { type Knex } from 'knex';
import { redactUrl } from '../config.js';
import { ServiceUnreachableError } from '../service-unreachable-error.js';

export function connectDatabase(databaseUrl: string, poolMax = 10): Knex {
  const url = new URL(databaseUrl);
  return knexFactory({
    client: 'mysql2',
    connection: {
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
      supportBigNumbers: true,
      bigNumberStrings: true,
      timezone: 'Z',
      charset: 'utf8mb4',
      connectTimeout: 5_000,
    },
    pool: {
      min: 0,
      max: poolMax,
      afterCreate(
        conn: { query: (sql: string, cb: (err: Error | null) => void) => void },
        done: (err: Error | null, conn: unknown) => void,
      ) {
        conn.query("SET time_zone = '+00:00'", (err) => done(err, conn));
      },
    },
    acquireConnectionTimeout: 10_000,
    // knex would print driver stack traces on its own; callers report errors themselves.
    log: { warn() {}, error() {}, deprecate() {}, debug() {} },
  });
}

/** The database name in a mysql:// URL. */
export function databaseNameOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
}

/**
 * Fails with a sentence a newcomer can act on when MySQL cannot be reached, instead of a
 * driver stack trace.
 */
export async function assertDatabaseReachable(knex: Knex, databaseUrl: string): Promise<void> {
  try {
    await knex.raw('SELECT 1');
  } catch (err) {
    throw describeDatabaseError(err, databaseUrl);
  }
}

export function describeDatabaseError(err: unknown, databaseUrl: string): Error {
  const code = (err as { code?: string }).code ?? 'unknown error';
  const where = redactUrl(databaseUrl);
  if (code === 'ER_BAD_DB_ERROR') {
    return new ServiceUnreachableError(
      `MySQL at ${where} has no database "${databaseNameOf(databaseUrl)}": create it ` +
        `(CREATE DATABASE \`${databaseNameOf(databaseUrl)}\`) or point DATABASE_URL at one`,
      { cause: err },
    );
  }
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') {
    return new ServiceUnreachableError(
      `MySQL at ${where} refused the login (${code}): check the user and password in DATABASE_URL`,
      { cause: err },
    );
  }
  return new ServiceUnreachableError(
    `cannot reach MySQL at ${where} (${code}). Start one — for example ` +
      '`docker compose up -d mysql`, or a local MariaDB 10.6+ / MySQL 8.0.1+ — or set DATABASE_URL.',
    { cause: err },
  );
}
