/**
 * The benchmark's mariadbd, set up like production MySQL on RDS: binary logging on (ROW
 * format, full row images, as the binlog peer needs), sync_binlog=1 and
 * innodb_flush_log_at_trx_commit=1 (every commit durable).
 *
 * It also has the account the binlog peer needs (REPLICATION SLAVE, REPLICATION CLIENT):
 * the privilege this product exists to do without.
 */
import { createConnection } from 'mysql2/promise';
import { startLocalMariaDb } from './local-mariadb.js';

const REPLICATION_USER = 'binlog_reader';
const REPLICATION_PASSWORD = 'bench-binlog-reader';

export interface PrivateMariaDb {
  port: number;
  pid: number;
  /** `mysql://root@127.0.0.1:<port>/` (no database). */
  rootUrl: string;
  replication: { user: string; password: string };
  stop(): Promise<void>;
}

export async function startPrivateMariaDb(): Promise<PrivateMariaDb> {
  const server = await startLocalMariaDb({
    label: 'push-bench-mariadb-',
    innodbArgs: ['--innodb-buffer-pool-size=256M', '--innodb-log-file-size=256M'],
    serverArgs: [
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--binlog-row-metadata=FULL',
      '--sync-binlog=1',
      '--innodb-flush-log-at-trx-commit=1',
      '--log-bin-trust-function-creators=1',
      '--max-connections=300',
    ],
    stopGraceMs: 15_000,
  });
  const connection = await createConnection({ uri: server.rootUrl });
  try {
    await connection.query(
      `CREATE USER '${REPLICATION_USER}'@'%' IDENTIFIED BY '${REPLICATION_PASSWORD}'`,
    );
    await connection.query(
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '${REPLICATION_USER}'@'%'`,
    );
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    await connection.end();
  }
  return { ...server, replication: { user: REPLICATION_USER, password: REPLICATION_PASSWORD } };
}
