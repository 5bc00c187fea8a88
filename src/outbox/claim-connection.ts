/**
 * The poller's own MySQL connection, outside knex's pool and query builder. A claim cycle
 * is a few small statements run up to a hundred times a second, and at that rate knex's
 * per-query work and the round trips themselves were most of the poller's CPU
 * (docs/BENCHMARKS.md, tuning step 5). So this connection:
 *
 * - is READ COMMITTED for its whole session, set once, instead of a `SET TRANSACTION`
 *   before every claim;
 * - accepts several statements in one query, so that a cycle is two round trips:
 *   `START TRANSACTION; SELECT … FOR UPDATE SKIP LOCKED; SELECT` (the claim and a look at
 *   the head of the backlog) and `UPDATE …; COMMIT`, plus the ordering check only when
 *   the claim skipped rows. Only the poller's own SQL runs here, with values escaped by
 *   mysql2, so multiple statements open no door to injection.
 *
 * A connection that fails is dropped (MySQL rolls back whatever it held) and the next
 * query opens a new one, so a KILLed or restarted MySQL costs one failed cycle. So is one
 * that answers read-only (the old writer after a failover: the new connection finds the
 * new writer through DNS) or does not answer within `queryTimeoutMs` (a black-holed path):
 * session-faults.ts says which answers those are.
 *
 * Its session's `wait_timeout` is `idleTimeoutS`: if this process goes silent in the middle
 * of a claim (its host dies, freezes or is cut off, and no FIN ever reaches MySQL), MySQL
 * drops the session after that long and rolls the claim back, and the other pollers take
 * the rows instead of skipping them for MySQL's default eight hours.
 */
import mysql, { type Connection } from 'mysql2';
import type { Logger } from 'pino';
import { mysqlConnectionOptions } from '../db/database-url.js';
import {
  describeSessionFault,
  destroySession,
  QueryDeadlineError,
  sessionFaultOf,
} from '../db/session-faults.js';

export interface ClaimConnection {
  query<T = unknown>(sql: string, values?: readonly unknown[]): Promise<T>;
  /** Ends the open transaction, if any, releasing its claim. Never throws. */
  rollback(): Promise<void>;
  close(): Promise<void>;
}

export interface ClaimConnectionSettings {
  /** The session's wait_timeout (CLAIM_TIMEOUT_S). */
  idleTimeoutS: number;
  /** The longest wait for MySQL's answer to one query (DB_QUERY_TIMEOUT_MS). */
  queryTimeoutMs: number;
  /** Told when a session is dropped for a read-only answer or a missed deadline. */
  logger?: Logger;
}

export function openClaimConnection(
  databaseUrl: string,
  { idleTimeoutS, queryTimeoutMs, logger }: ClaimConnectionSettings,
): ClaimConnection {
  // The same host, account, password and TLS as the knex pool (database-url.ts).
  const settings = mysqlConnectionOptions(databaseUrl);
  let current: Promise<Connection> | undefined;

  function connection(): Promise<Connection> {
    current ??= (async () => {
      const raw = mysql.createConnection({ ...settings, multipleStatements: true });
      // Without a listener, an error on an idle connection would end the process.
      raw.on('error', () => {});
      try {
        await run(
          raw,
          "SET time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; " +
            'SET SESSION wait_timeout = ?',
          [idleTimeoutS],
          queryTimeoutMs,
        );
        return raw;
      } catch (err) {
        destroySession(raw);
        throw err;
      }
    })();
    current.catch(() => (current = undefined));
    return current;
  }

  /** Forgets the connection (the next query opens a new one) and hands it over, if any. */
  async function detach(): Promise<Connection | undefined> {
    const detached = current;
    current = undefined;
    return detached?.catch(() => undefined);
  }

  async function drop(): Promise<void> {
    const raw = await detach();
    if (raw) destroySession(raw);
  }

  async function query<T>(sql: string, values?: readonly unknown[]): Promise<T> {
    const raw = await connection();
    try {
      return (await run(raw, sql, values, queryTimeoutMs)) as T;
    } catch (err) {
      // A statement MySQL refused leaves the session usable; a lost, silent or read-only
      // one does not.
      const fault = sessionFaultOf(err);
      if (!fault) throw err;
      await drop();
      if (fault === 'lost') throw err;
      const why = describeSessionFault(fault, queryTimeoutMs);
      logger?.warn({ fault, code: (err as { code?: string }).code }, why);
      // mysql2's own words for a missed deadline ("Query inactivity timeout") would be what
      // /readyz and the poller's error log show; these name the setting.
      throw fault === 'timed out' ? new QueryDeadlineError(why, { cause: err }) : err;
    }
  }

  return {
    query,
    async rollback() {
      // No connection (it failed to open, or was dropped): nothing is held, and opening
      // one just to roll back nothing would only wait on a MySQL that is down.
      if (!current) return;
      // If even the rollback fails, the session is in doubt: drop it, and MySQL releases
      // the claim when it sees the connection gone.
      await query('ROLLBACK').catch(() => drop());
    },
    async close() {
      const raw = await detach();
      if (raw) await new Promise<void>((resolve) => raw.end(() => resolve()));
    },
  };
}

function run(
  raw: Connection,
  sql: string,
  values: readonly unknown[] | undefined,
  timeoutMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    raw.query({ sql, timeout: timeoutMs }, (values ?? []) as unknown[], (err, result) =>
      err ? reject(err) : resolve(result),
    );
  });
}
