// A private MySQL-compatible server that behaves like managed MySQL (AWS RDS, Aliyun RDS) in the
// ways the product cares about (SPEC §1): binary logging on, `log_bin_trust_function_creators`
// off until an operator turns it on, and an application account with table privileges plus
// TRIGGER only — no SUPER, no REPLICATION, nothing global. The shared test server cannot play
// this part: its binary log is off, and flipping globals there would disturb parallel tests.
//
// Locally (CI) it is a throwaway mariadbd on a free port with its datadir under the temp dir;
// on a laptop without MariaDB binaries but with Docker, a mysql:8.0 container.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { findExecutable, findFreePort, stopProcess } from '../../bench/local-process.js';

export interface RdsLikeServer {
  host: string;
  port: number;
  /** root, with the `app` database as its path. */
  rootUrl: string;
  /** `push_app`, the least-privilege account, with the `app` database as its path. */
  appUrl: string;
  database: string;
  appUser: string;
  /** `SET GLOBAL log_bin_trust_function_creators`, as root; what an RDS parameter group does. */
  setTrustFunctionCreators(on: boolean): Promise<void>;
  /** Stops the server and removes its data; safe to call twice. */
  stop(): Promise<void>;
}

const DATABASE = 'app';
const APP_USER = 'push_app';
// What a DBA grants an application that owns its schema, per SPEC §1: table privileges + TRIGGER.
const APP_GRANTS =
  'SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER, REFERENCES, ' +
  'CREATE VIEW, SHOW VIEW, LOCK TABLES';
// mariadbd answers in ~0.2 s here; 30 s leaves room for a slow, busy CI disk.
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

const execFileAsync = promisify(execFile);

export async function startRdsLikeMariaDb(): Promise<RdsLikeServer> {
  const mariadbd = await findExecutable('mariadbd');
  const installDb = await findExecutable('mariadb-install-db');
  if (mariadbd && installDb) return startLocalServer(mariadbd, installDb);

  const dockerProblem = await findDockerProblem();
  if (dockerProblem === undefined) return startContainer();
  throw new Error(
    [
      'The RDS-like test server needs either the MariaDB server binaries or a Docker engine:',
      `  - ${[!mariadbd && 'mariadbd', !installDb && 'mariadb-install-db'].filter(Boolean).join(' and ')} not found on PATH (apt-get install -y mariadb-server), and`,
      `  - no Docker engine answers (${dockerProblem}).`,
    ].join('\n'),
  );
}

async function startLocalServer(mariadbd: string, installDb: string): Promise<RdsLikeServer> {
  const dir = await mkdtemp(join(tmpdir(), 'push-rds-'));
  const datadir = join(dir, 'data');
  const errorLog = join(dir, 'error.log');
  // mariadbd refuses to run as root unless told to, and CI runs as root.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  // Small InnoDB files: dozens of these may start in one CI run, each with its own datadir.
  const innodbSizes = ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M'];
  try {
    await execFileAsync(
      installDb,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...asRoot,
        ...innodbSizes,
      ],
      { timeout: 60_000 },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${outputOf(error)}`, { cause: error });
  }

  let lastError: unknown;
  // A free port can be taken between choosing it and binding it; try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
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
        '--log-bin-trust-function-creators=0',
        '--skip-name-resolve',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        '--performance-schema=OFF',
        '--innodb-flush-log-at-trx-commit=2',
        '--sync-binlog=0',
        ...innodbSizes,
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
    try {
      await waitUntilReady(rootUrl, child, errorLog);
    } catch (error) {
      lastError = error;
      process.off('exit', killOnExit);
      await stopProcess(child, STOP_GRACE_MS);
      if (/address already in use|bind on tcp\/ip port/i.test(await tail(errorLog))) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }

    const password = randomBytes(12).toString('hex');
    await runAsRoot(rootUrl, [
      `CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      `CREATE USER '${APP_USER}'@'%' IDENTIFIED BY '${password}'`,
      `GRANT ${APP_GRANTS} ON ${DATABASE}.* TO '${APP_USER}'@'%'`,
    ]);
    let stopped = false;
    return {
      host: '127.0.0.1',
      port,
      rootUrl: `mysql://root@127.0.0.1:${port}/${DATABASE}`,
      appUrl: `mysql://${APP_USER}:${password}@127.0.0.1:${port}/${DATABASE}`,
      database: DATABASE,
      appUser: APP_USER,
      setTrustFunctionCreators: (on) => setTrust(rootUrl, on),
      async stop() {
        if (stopped) return;
        stopped = true;
        process.off('exit', killOnExit);
        await stopProcess(child, STOP_GRACE_MS);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error('mariadbd could not bind a free port in 3 attempts', { cause: lastError });
}

async function startContainer(): Promise<RdsLikeServer> {
  const { MySqlContainer } = await import('@testcontainers/mysql');
  const rootPassword = randomBytes(12).toString('hex');
  const container = await new MySqlContainer('mysql:8.0')
    .withDatabase(DATABASE)
    .withRootPassword(rootPassword)
    .withCommand([
      '--log-bin',
      '--log-bin-trust-function-creators=0',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
    ])
    .start();
  const host = container.getHost();
  const port = container.getPort();
  const rootUrl = container.getConnectionUri(true);
  const password = randomBytes(12).toString('hex');
  await runAsRoot(rootUrl, [
    // mysql_native_password: caching_sha2 over plain TCP needs an RSA key exchange for no benefit here.
    `CREATE USER '${APP_USER}'@'%' IDENTIFIED WITH mysql_native_password BY '${password}'`,
    `GRANT ${APP_GRANTS} ON ${DATABASE}.* TO '${APP_USER}'@'%'`,
  ]);
  let stopped = false;
  return {
    host,
    port,
    rootUrl,
    appUrl: `mysql://${APP_USER}:${password}@${host}:${port}/${DATABASE}`,
    database: DATABASE,
    appUser: APP_USER,
    setTrustFunctionCreators: (on) => setTrust(rootUrl, on),
    async stop() {
      if (stopped) return;
      stopped = true;
      await container.stop();
    },
  };
}

async function setTrust(rootUrl: string, on: boolean): Promise<void> {
  await runAsRoot(rootUrl, [`SET GLOBAL log_bin_trust_function_creators = ${on ? 1 : 0}`]);
}

async function runAsRoot(rootUrl: string, statements: string[]): Promise<void> {
  const connection = await createConnection({ uri: rootUrl, connectTimeout: 5_000 });
  try {
    for (const statement of statements) await connection.query(statement);
  } finally {
    await connection.end();
  }
}

async function waitUntilReady(rootUrl: string, child: ChildProcess, errorLog: string) {
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline && !exited) {
    try {
      const connection = await createConnection({ uri: rootUrl, connectTimeout: 1_000 });
      await connection.end();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const why = exited
    ? 'exited during start-up'
    : `did not accept connections in ${READY_TIMEOUT_MS / 1000} s`;
  throw new Error(`mariadbd ${why}. Last lines of ${errorLog}:\n${await tail(errorLog)}`, {
    cause: lastError,
  });
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no error log)';
  }
}

async function findDockerProblem(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function outputOf(error: unknown): string {
  const { stdout, stderr, message } = error as {
    stdout?: string;
    stderr?: string;
    message?: string;
  };
  return [message, stderr, stdout].filter(Boolean).join('\n');
}
