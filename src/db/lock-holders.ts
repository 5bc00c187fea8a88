/**
 * The message `push migrate` gives when a schema change could not get its metadata lock:
 * what it waited for, who holds the lock as far as this account can see, and what to do.
 *
 * What an application account can see is little, and the message says so: without the
 * PROCESS privilege (which push does not need and RDS's app accounts rarely have)
 * information_schema.PROCESSLIST shows only the account's own sessions, INNODB_TRX nothing;
 * performance_schema.metadata_locks (MySQL 8) names the holder exactly but needs SELECT on
 * performance_schema; MariaDB's METADATA_LOCK_INFO exists only with its plugin loaded. Each
 * source is tried on its own, and the ones that refuse are named with the reason.
 */
import { MigrationError } from './migration-error.js';
import type { ReadSql } from './schema-session.js';

interface VisibleSession {
  id: number | string;
  user: string;
  host: string;
  command: string;
  time: number | string;
  state: string | null;
  info: string | null;
}

interface OpenTransaction {
  id: number | string;
  started: Date | string;
  query: string | null;
}

interface MetadataLock {
  id: number | string;
  tableName: string;
  lockType: string;
}

const SOURCES = {
  sessions: `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS time,
                    STATE AS state, LEFT(INFO, 100) AS info
               FROM information_schema.PROCESSLIST
              WHERE ID <> CONNECTION_ID() ORDER BY TIME DESC LIMIT 20`,
  transactions: `SELECT trx_mysql_thread_id AS id, trx_started AS started, LEFT(trx_query, 100) AS query
                   FROM information_schema.INNODB_TRX ORDER BY trx_started LIMIT 20`,
  mysqlLocks: `SELECT t.PROCESSLIST_ID AS id, m.OBJECT_NAME AS tableName, m.LOCK_TYPE AS lockType
                 FROM performance_schema.metadata_locks m
                 JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
                WHERE m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = DATABASE()
                  AND m.LOCK_STATUS = 'GRANTED' AND t.PROCESSLIST_ID <> CONNECTION_ID()`,
  mariadbLocks: `SELECT THREAD_ID AS id, TABLE_NAME AS tableName, LOCK_MODE AS lockType
                   FROM information_schema.METADATA_LOCK_INFO
                  WHERE TABLE_SCHEMA = DATABASE() AND THREAD_ID <> CONNECTION_ID()`,
};

export async function describeLockWait(
  read: ReadSql,
  wait: { sql: string; lockWaitS: number; attempts: number; flavor: string; cause: unknown },
): Promise<MigrationError> {
  const [sessions, transactions, locks] = await Promise.all([
    tryRead<VisibleSession>(read, SOURCES.sessions),
    tryRead<OpenTransaction>(read, SOURCES.transactions),
    tryRead<MetadataLock>(
      read,
      wait.flavor === 'MariaDB' ? SOURCES.mariadbLocks : SOURCES.mysqlLocks,
    ),
  ]);
  const lockSource =
    wait.flavor === 'MariaDB'
      ? 'information_schema.METADATA_LOCK_INFO'
      : 'performance_schema.metadata_locks';

  const lines = [
    `gave up after ${wait.attempts} attempt(s) of ${wait.lockWaitS} s each (MIGRATION_LOCK_ATTEMPTS, ` +
      `MIGRATION_LOCK_WAIT_S) to get a metadata lock, to run:`,
    `  ${firstLine(wait.sql)}`,
    'Another session holds a lock on the table: a transaction that has read or written it and ' +
      'not ended yet (a long report, a client that left a transaction open), or DDL of its own. ' +
      'While push waited, order writes queued behind it for up to ' +
      `${wait.lockWaitS} s at a time; they run again now. Nothing after this statement was run.`,
    '',
  ];
  if ('rows' in locks && locks.rows.length > 0) {
    lines.push(`Sessions holding metadata locks here (${lockSource}):`);
    for (const lock of locks.rows) {
      lines.push(`  session ${lock.id}: ${lock.lockType} on \`${lock.tableName}\``);
    }
  }
  if ('rows' in transactions && transactions.rows.length > 0) {
    lines.push('Open transactions, oldest first (information_schema.INNODB_TRX):');
    for (const trx of transactions.rows) {
      lines.push(
        `  session ${trx.id}: open since ${String(trx.started)}${trx.query ? `, running: ${trx.query}` : ''}`,
      );
    }
  }
  if ('rows' in sessions) {
    if (sessions.rows.length === 0) {
      lines.push('This account sees no other session of its own (information_schema.PROCESSLIST).');
    } else {
      lines.push('Sessions this account can see (information_schema.PROCESSLIST):');
      for (const s of sessions.rows) lines.push(`  ${describeSession(s)}`);
    }
  }
  const refused = [
    ['information_schema.INNODB_TRX', transactions],
    [lockSource, locks],
  ] as const;
  const unreadable = refused.filter(([, result]) => 'error' in result);
  if (unreadable.length > 0 || ('rows' in sessions && !('rows' in transactions))) {
    lines.push(
      'Without the PROCESS privilege an account sees only its own sessions, so the holder may ' +
        "be another account's session (the order service's, a report's) that is not listed.",
    );
    for (const [source, result] of unreadable) {
      if ('error' in result) lines.push(`  ${source}: not readable (${result.error})`);
    }
  }
  lines.push(
    '',
    'What to do: as an administrator, find the holder —',
    '  SELECT * FROM performance_schema.metadata_locks WHERE OBJECT_SCHEMA = DATABASE();  (MySQL 8)',
    '  SELECT * FROM information_schema.METADATA_LOCK_INFO;  (MariaDB, plugin metadata_lock_info)',
    '  SELECT trx_mysql_thread_id, trx_started, trx_query FROM information_schema.INNODB_TRX ORDER BY trx_started;',
    '  SHOW FULL PROCESSLIST;',
    'then let it finish or end it (KILL <id>; on RDS: CALL mysql.rds_kill(<id>)), and run ' +
      '`push migrate` again; or run it at a quieter moment, or raise MIGRATION_LOCK_WAIT_S ' +
      '(order writes then wait up to that long).',
  );
  return new MigrationError(lines.join('\n'), { cause: wait.cause });
}

type ReadResult<Row> = { rows: Row[] } | { error: string };

async function tryRead<Row>(read: ReadSql, sql: string): Promise<ReadResult<Row>> {
  try {
    return { rows: await read<Row>(sql) };
  } catch (err) {
    const { code, message } = err as { code?: string; message?: string };
    return { error: code ?? message ?? String(err) };
  }
}

function describeSession(s: VisibleSession): string {
  const doing =
    s.command === 'Sleep'
      ? `idle for ${s.time} s (an open transaction, if it holds the lock)`
      : `${s.command} for ${s.time} s${s.state ? `, ${s.state}` : ''}${s.info ? `: ${s.info}` : ''}`;
  const waiting = /metadata lock/i.test(s.state ?? '') ? ' — waiting, like push, not holding' : '';
  return `session ${s.id} (${s.user}@${s.host}): ${doing}${waiting}`;
}

function firstLine(sql: string): string {
  const line = sql.trim().split('\n')[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}…` : line;
}
