// A private MySQL-compatible server that behaves like managed MySQL (AWS RDS, Aliyun RDS) in the
// ways the product cares about (SPEC §1): binary logging on, `log_bin_trust_function_creators`
// off until an operator turns it on, and an application account with table privileges plus
// TRIGGER only — no SUPER, no REPLICATION, nothing global. The shared test server cannot play
// this part: its binary log is off, and flipping globals there would disturb parallel tests.
// It offers no TLS (--skip-ssl), so the doctor's "server offers no TLS" answer has a server to
// meet; TLS itself is tls-mariadb.ts's.
//
// Locally (CI) it is a throwaway mariadbd on a free port with its datadir under the temp dir;
// on a laptop without MariaDB binaries but with Docker, a mysql:8.0 container.
import { randomBytes } from 'node:crypto';
import { runStatements } from './mysql-login.js';
import { findMariaDbBinaries, startLocalMariaDb } from '../../bench/local-mariadb.js';
import { appUrlOf, createAppAccountSql, newAppAccount } from './app-account.js';
import { findDockerProblem } from './docker-engine.js';

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
// mariadbd answers in ~0.2 s here; 30 s leaves room for a slow, busy CI disk.
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export async function startRdsLikeMariaDb(): Promise<RdsLikeServer> {
  const binaries = await findMariaDbBinaries();
  if (!('missing' in binaries)) return startLocalServer();

  const dockerProblem = await findDockerProblem();
  if (dockerProblem === undefined) return startContainer();
  throw new Error(
    [
      'The RDS-like test server needs either the MariaDB server binaries or a Docker engine:',
      `  - ${binaries.missing.join(' and ')} not found on PATH (apt-get install -y mariadb-server), and`,
      `  - no Docker engine answers (${dockerProblem}).`,
    ].join('\n'),
  );
}

async function startLocalServer(): Promise<RdsLikeServer> {
  const server = await startLocalMariaDb({
    label: 'push-rds-',
    // Small InnoDB files: dozens of these may start in one CI run, each with its own datadir.
    innodbArgs: ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M'],
    serverArgs: [
      '--log-bin-trust-function-creators=0',
      '--skip-ssl',
      '--innodb-flush-log-at-trx-commit=2',
      '--sync-binlog=0',
    ],
    readyTimeoutMs: READY_TIMEOUT_MS,
    stopGraceMs: STOP_GRACE_MS,
  });
  const account = newAppAccount('push_app');
  try {
    await runStatements(server.rootUrl, [
      `CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      ...createAppAccountSql(account, DATABASE),
    ]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    host: '127.0.0.1',
    port: server.port,
    rootUrl: `mysql://root@127.0.0.1:${server.port}/${DATABASE}`,
    appUrl: appUrlOf(server.rootUrl, account, DATABASE),
    database: DATABASE,
    appUser: account.user,
    setTrustFunctionCreators: (on) => setTrust(server.rootUrl, on),
    stop: () => server.stop(),
  };
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
      '--skip-ssl',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
    ])
    .start();
  const host = container.getHost();
  const port = container.getPort();
  const rootUrl = container.getConnectionUri(true);
  const account = newAppAccount('push_app');
  await runStatements(rootUrl, createAppAccountSql(account, DATABASE));
  let stopped = false;
  return {
    host,
    port,
    rootUrl,
    appUrl: appUrlOf(rootUrl, account, DATABASE),
    database: DATABASE,
    appUser: account.user,
    setTrustFunctionCreators: (on) => setTrust(rootUrl, on),
    async stop() {
      if (stopped) return;
      stopped = true;
      await container.stop();
    },
  };
}

async function setTrust(rootUrl: string, on: boolean): Promise<void> {
  await runStatements(rootUrl, [`SET GLOBAL log_bin_trust_function_creators = ${on ? 1 : 0}`]);
}
