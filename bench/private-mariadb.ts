/**
 * A throwaway mariadbd for the benchmark, set up like production MySQL on RDS: binary
 * logging on (ROW format, full row images, as the binlog peer needs), sync_binlog=1 and
 * innodb_flush_log_at_trx_commit=1 (every commit durable). The same approach as
 * test/support/rds-like-mariadb.ts (mariadb-install-db into a temp dir, own port), kept
 * separate because bench code does not import from test/.
 *
 * It also has the account the binlog peer needs (REPLICATION SLAVE, REPLICATION CLIENT):
 * the privilege this product exists to do without.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { sleep } from './clock.js';
import { findExecutable, findFreePort, stopProcess } from './local-process.js';

const execFileAsync = promisify(execFile);
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
  const mariadbd = await findExecutable('mariadbd');
  const installDb = await findExecutable('mariadb-install-db');
  if (!mariadbd || !installDb) {
    throw new Error(
      'the benchmark starts its own MariaDB with binary logging: mariadbd and mariadb-install-db ' +
        'must be installed (apt-get install -y mariadb-server)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'push-bench-mariadb-'));
  const datadir = join(dir, 'data');
  const errorLog = join(dir, 'error.log');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const sizes = ['--innodb-buffer-pool-size=256M', '--innodb-log-file-size=256M'];
  await execFileAsync(
    installDb,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...asRoot,
      ...sizes,
    ],
    { timeout: 120_000 },
  );
  const port = await findFreePort();
  const child = spawn(
    mariadbd,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${errorLog}`,
      `--tmpdir=${dir}`,
      `--log-bin=${join(datadir, 'binlog')}`,
      '--server-id=1',
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--binlog-row-metadata=FULL',
      '--sync-binlog=1',
      '--innodb-flush-log-at-trx-commit=1',
      '--log-bin-trust-function-creators=1',
      '--max-connections=300',
      '--skip-name-resolve',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
      '--performance-schema=OFF',
      ...sizes,
      ...asRoot,
    ],
    { stdio: 'ignore' },
  );
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const rootUrl = `mysql://root@127.0.0.1:${port}/`;
  await waitUntilReady(rootUrl, child, errorLog);
  const connection = await createConnection({ uri: rootUrl });
  try {
    await connection.query(
      `CREATE USER '${REPLICATION_USER}'@'%' IDENTIFIED BY '${REPLICATION_PASSWORD}'`,
    );
    await connection.query(
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '${REPLICATION_USER}'@'%'`,
    );
  } finally {
    await connection.end();
  }
  let stopped = false;
  return {
    port,
    pid: child.pid!,
    rootUrl,
    replication: { user: REPLICATION_USER, password: REPLICATION_PASSWORD },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', killOnExit);
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilReady(
  rootUrl: string,
  child: ChildProcess,
  errorLog: string,
): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !exited) {
    try {
      const connection = await createConnection({ uri: rootUrl, connectTimeout: 1_000 });
      await connection.end();
      return;
    } catch {
      await sleep(100);
    }
  }
  let log = '(no error log)';
  try {
    log = (await readFile(errorLog, 'utf8')).split('\n').slice(-30).join('\n');
  } catch {
    // none written
  }
  throw new Error(
    `the benchmark's mariadbd ${exited ? 'exited during start-up' : 'did not start in 60 s'}:\n${log}`,
  );
}
