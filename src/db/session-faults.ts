/**
 * When push gives up a MySQL session, for the poller's own connection (claim-connection.ts)
 * and the knex pool (connect-database.ts) alike:
 *
 * - **lost**: mysql2 marks the error `fatal`; the socket is gone.
 * - **timed out**: no answer within DB_QUERY_TIMEOUT_MS. mysql2 fails the query but keeps
 *   the connection, with the unanswered command still at its head, so every later query
 *   would queue behind it. The path may be black-holed (no RST, no FIN, and TCP retransmits
 *   unacknowledged data for about fifteen minutes before it gives up), so only we can end it.
 * - **read-only**: after an RDS or Aurora failover (or a Multi-AZ switchover) the old writer
 *   can stay up and answer as a read-only server while DNS already names the new one. A
 *   session stays with the server it was opened on; a new connection looks the host up
 *   again (mysql2 resolves it on every connect, and Node itself caches no DNS answers).
 *
 * Giving up the session ends whatever it held: MySQL rolls back its open transaction when
 * it sees the connection close — or, on a black-holed path, when its `wait_timeout` passes.
 */
import type { Connection } from 'mysql2';

export type SessionFault = 'lost' | 'timed out' | 'read-only';

/**
 * MySQL's and MariaDB's codes (the same numbers in both) for "this server does not take
 * writes": 1290 is ER_OPTION_PREVENTS_STATEMENT, read-only only when the option it names
 * is `--read-only` or `--super-read-only` (it also covers --secure-file-priv and others);
 * the option name is not translated, so the test holds for every lc_messages.
 */
const OPTION_PREVENTS_STATEMENT = 1290;
const READ_ONLY_ERRNOS = new Set([
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: the server makes every transaction read-only
  1836, // ER_READ_ONLY_MODE
  1874, // ER_INNODB_READ_ONLY: innodb_read_only, as on a reader instance
]);

/** mysql2's code for a query that got no answer within its `timeout`. */
const QUERY_TIMEOUT_CODE = 'PROTOCOL_SEQUENCE_TIMEOUT';

/** Why the session that raised `err` must be given up, or undefined when it may be kept. */
export function sessionFaultOf(err: unknown): SessionFault | undefined {
  const { fatal, code, errno, message } = (err ?? {}) as {
    fatal?: boolean;
    code?: string;
    errno?: number;
    message?: string;
  };
  if (code === QUERY_TIMEOUT_CODE) return 'timed out';
  if (fatal) return 'lost';
  if (errno !== undefined && READ_ONLY_ERRNOS.has(errno)) return 'read-only';
  if (errno === OPTION_PREVENTS_STATEMENT && /read[-_ ]only/i.test(message ?? '')) {
    return 'read-only';
  }
  return undefined;
}

/** What the logs say when a session is given up, so an operator can tell a failover. */
export function describeSessionFault(fault: SessionFault, queryTimeoutMs: number): string {
  switch (fault) {
    case 'read-only':
      return (
        'MySQL answered that it is read-only (a failover may have moved the writer): ' +
        'dropped the session; the next query connects again, looking the host up anew'
      );
    case 'timed out':
      return (
        `MySQL did not answer within ${queryTimeoutMs} ms (DB_QUERY_TIMEOUT_MS): dropped the ` +
        'session; the next query connects again'
      );
    case 'lost':
      return 'the connection to MySQL was lost; the next query connects again';
  }
}

/** A query given up after DB_QUERY_TIMEOUT_MS; `cause` is mysql2's timeout error. */
export class QueryDeadlineError extends Error {
  override name = 'QueryDeadlineError';
  readonly code = QUERY_TIMEOUT_CODE;
}

/**
 * Closes the connection at once: no COM_QUIT queued behind an unanswered command, and no
 * FIN handshake to wait for on a path that may never deliver it. The socket is destroyed,
 * so a black-holed connection does not linger in this process either.
 */
export function destroySession(connection: Pick<Connection, 'destroy'>): void {
  connection.destroy();
  (connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
}
