/**
 * One knex instance per process, on mysql2, logging in with the options DATABASE_URL
 * describes (database-url.ts): account, password, TLS.
 *
 * Its pool lends no session that must be given up (session-faults.ts): one that answered
 * read-only (the old writer after a failover; worker writes and retention go through this
 * pool) or, with `queryTimeoutMs`, one that did not answer in time. knex marks a session it
 * saw fail with `__knex__disposed`, and its pool checks that mark before lending a
 * connection again and destroys it instead (knex/lib/client.js, `validate`); the same mark
 * is set here for those answers. The next query then opens a new connection, which looks
 * the host up again and so follows DNS to the new writer.
 */
import knexFactory, { type Knex } from 'knex';
import type { Connection } from 'mysql2';
import type { Logger } from 'pino';
import { redactUrl } from '../config.js';
import { ServiceUnreachableError } from '../service-unreachable-error.js';
import {
  asksForTls,
  databaseHostOf,
  databaseNameOf,
  databaseTlsOf,
  mysqlConnectionOptions,
  type DatabaseTls,
} from './database-url.js';
import { describeSessionFault, destroySession, sessionFaultOf } from './session-faults.js';

export { databaseNameOf } from './database-url.js';

/** How long a query waits for a pool connection (and so for MySQL to accept one). */
export const ACQUIRE_CONNECTION_TIMEOUT_MS = 10_000;

export interface DatabaseOptions {
  /**
   * The longest wait for MySQL's answer to one query (DB_QUERY_TIMEOUT_MS). The service sets
   * it; migrations and commands do not, since an ALTER on a big table may take minutes.
   */
  queryTimeoutMs?: number;
  /** Told when a pooled session is given up for a read-only answer or a missed deadline. */
  logger?: Logger;
}

export function connectDatabase(
  databaseUrl: string,
  poolMax = 10,
  options: DatabaseOptions = {},
): Knex {
  return knexFactory({
    client: 'mysql2',
    connection: mysqlConnectionOptions(databaseUrl) as Knex.MySql2ConnectionConfig,
    pool: {
      min: 0,
      max: poolMax,
      afterCreate(conn: PooledConnection, done: (err: Error | null, conn: unknown) => void) {
        guardPooledSession(conn, options);
        conn.query("SET time_zone = '+00:00'", [], (err) => done(err, conn));
      },
    },
    acquireConnectionTimeout: ACQUIRE_CONNECTION_TIMEOUT_MS,
    // knex would print driver stack traces on its own; callers report errors themselves.
    log: { warn() {}, error() {}, deprecate() {}, debug() {} },
  });
}

type QueryCallback = (err: Error | null, ...results: unknown[]) => void;

/** A mysql2 connection as knex's pool holds it, with knex's mark. */
interface PooledConnection extends Pick<Connection, 'destroy'> {
  query(sql: string | { sql: string }, values: unknown, callback?: QueryCallback): unknown;
  __knex__disposed?: unknown;
}

/**
 * Gives every query knex runs on this session the deadline, and marks the session for
 * disposal when its answer says it must go. knex runs every query, transactions included,
 * as `query(options, bindings, callback)` (knex/lib/dialects/mysql); a call without a
 * callback (a stream) is passed through untouched.
 */
function guardPooledSession(conn: PooledConnection, { queryTimeoutMs, logger }: DatabaseOptions) {
  const query = conn.query.bind(conn);
  conn.query = (sql, values, callback) => {
    if (typeof callback !== 'function') return query(sql, values, callback);
    const options = typeof sql === 'string' ? { sql } : sql;
    const timed = queryTimeoutMs === undefined ? options : { timeout: queryTimeoutMs, ...options };
    return query(timed, values, (err, ...results) => {
      const fault = err ? sessionFaultOf(err) : undefined;
      if (fault && !conn.__knex__disposed) {
        conn.__knex__disposed = err;
        if (fault === 'timed out') destroySession(conn);
        if (fault !== 'lost') {
          logger?.warn(
            { fault, code: (err as { code?: string }).code },
            describeSessionFault(fault, queryTimeoutMs ?? 0),
          );
        }
      }
      callback(err, ...results);
    });
  };
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
  const tls = databaseTlsOf(databaseUrl);
  const addTls =
    'add ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<CA bundle> (or ssl-mode=REQUIRED) to DATABASE_URL';
  if (code === 'ER_SECURE_TRANSPORT_REQUIRED') {
    // MySQL with require_secure_transport=ON (a parameter on RDS and Aliyun RDS too).
    return new ServiceUnreachableError(
      `MySQL at ${where} accepts only encrypted connections (${code}): ${addTls}`,
      { cause: err },
    );
  }
  if (code === 'ER_DBACCESS_DENIED_ERROR') {
    const database = databaseNameOf(databaseUrl);
    return new ServiceUnreachableError(
      `MySQL at ${where} logged the account in but refuses it the database "${database}" ` +
        `(${code}): grant it the privileges the README lists on \`${database}\`.*; if they come ` +
        'through a role, make that a default role (SET DEFAULT ROLE)',
      { cause: err },
    );
  }
  if (code === 'ER_ACCESS_DENIED_ERROR') {
    // An account created with REQUIRE SSL is refused over plain TCP exactly like a wrong
    // password, and so is every account on MariaDB with require_secure_transport=ON: the
    // server does not say which it was.
    const tlsHint = asksForTls(tls)
      ? ''
      : `; if the account or the server requires TLS (REQUIRE SSL, require_secure_transport), ${addTls}`;
    return new ServiceUnreachableError(
      `MySQL at ${where} refused the login (${code}): check the user and password in DATABASE_URL${tlsHint}`,
      { cause: err },
    );
  }
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return new ServiceUnreachableError(
      `TLS to MySQL at ${where} failed: the server does not offer TLS, and DATABASE_URL asks ` +
        `for ssl-mode=${tls.mode}. Enable TLS on the server or drop ssl-mode.`,
      { cause: err },
    );
  }
  if (asksForTls(tls) && isTlsFailure(code)) {
    const host = databaseHostOf(databaseUrl);
    const settings = `ssl-mode=${tls.mode}${tls.ca ? `, ssl-ca=${tls.ca}` : ''}`;
    return new ServiceUnreachableError(
      `TLS to MySQL at ${where} failed (${settings}): ${tlsFailureReason(err, host, tls)} ` +
        `[${code}: ${(err as Error).message}]`,
      { cause: err },
    );
  }
  return new ServiceUnreachableError(
    `cannot reach MySQL at ${where} (${code}). Start one — for example ` +
      '`docker compose up -d mysql`, or a local MariaDB 10.6+ / MySQL 8.0.1+ — or set DATABASE_URL.',
    { cause: err },
  );
}

/**
 * mysql2 reports every failed handshake as HANDSHAKE_SSL_ERROR and keeps Node's message:
 * turn the usual ones into what to do.
 */
function tlsFailureReason(err: unknown, host: string, tls: DatabaseTls): string {
  const message = (err as Error).message ?? '';
  const trusted = tls.ca
    ? `the CA in ssl-ca (${tls.ca})`
    : 'the public CAs Node trusts (no ssl-ca given)';
  if (/altname|does not match certificate|Hostname\/IP/i.test(message)) {
    return (
      `the server's certificate does not name ${host}. Connect by a name the certificate ` +
      'lists, or use ssl-mode=VERIFY_CA, which checks the CA but not the name.'
    );
  }
  if (/expired|not yet valid/i.test(message)) {
    return "the server's certificate is outside its validity period; renew it on the server.";
  }
  if (/self[- ]signed|issuer|unable to verify|unable to get|certificate chain/i.test(message)) {
    return (
      `the server's certificate is not signed by ${trusted}. Point ssl-ca at the CA that ` +
      "signed the server's certificate."
    );
  }
  return (
    'the TLS handshake did not complete. Check that the server speaks TLS 1.2 or later, that ' +
    "ssl-ca is the CA that signed the server's certificate and that the certificate names " +
    `${host}.`
  );
}

/** Node's and OpenSSL's codes for a handshake or certificate check that failed. */
function isTlsFailure(code: string): boolean {
  return /CERT|SSL|TLS|EPROTO|SIGNATURE|ISSUER|ALTNAME/.test(code);
}
