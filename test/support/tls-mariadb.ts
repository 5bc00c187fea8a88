// A private MariaDB that speaks TLS with certificates made by `openssl` at setup, and an
// application account created REQUIRE SSL: what a managed MySQL that insists on encryption
// looks like (RDS with require_secure_transport, Aliyun RDS with "SSL required"). The shared test
// server cannot play this part: it has no certificate, and its accounts are not REQUIRE SSL.
//
// The certificates: a CA, a server certificate it signs for the IP address 127.0.0.1 (SAN
// IP:127.0.0.1, no DNS name, so connecting as `localhost` is a name mismatch), and a second,
// unrelated CA that signed nothing here (the "wrong CA").
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalMariaDb } from '../../bench/local-mariadb.js';
import { appUrlOf, createAppAccountSql, newAppAccount, type AppAccount } from './app-account.js';
import { runStatements } from './mysql-login.js';

const execFileAsync = promisify(execFile);

const DATABASE = 'app';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export interface TestCertificates {
  /** PEM of the CA that signed the server's certificate. */
  caFile: string;
  /** PEM of a CA that signed nothing the server presents. */
  wrongCaFile: string;
  serverCertFile: string;
  serverKeyFile: string;
}

export interface TlsMariaDb {
  port: number;
  certificates: TestCertificates;
  /** root (no password, no TLS needed) on the `app` database, for setup and inspection. */
  rootUrl: string;
  account: AppAccount;
  database: string;
  /**
   * The REQUIRE SSL account's URL on `host` (default 127.0.0.1) with these query parameters,
   * e.g. `{ 'ssl-mode': 'VERIFY_IDENTITY', 'ssl-ca': certificates.caFile }`.
   */
  appUrl(params?: Record<string, string>, host?: string): string;
  /** Stops the server and removes its data and certificates; safe to call twice. */
  stop(): Promise<void>;
}

export async function startTlsMariaDb(): Promise<TlsMariaDb> {
  const certDir = await mkdtemp(join(tmpdir(), 'push-tls-certs-'));
  let server;
  try {
    const certificates = await makeTestCertificates(certDir);
    server = await startLocalMariaDb({
      label: 'push-tls-',
      innodbArgs: ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M'],
      serverArgs: [
        `--ssl-ca=${certificates.caFile}`,
        `--ssl-cert=${certificates.serverCertFile}`,
        `--ssl-key=${certificates.serverKeyFile}`,
        // Binary logging is on (startLocalMariaDb), as on RDS; the operator's parameter lets
        // the least-privilege account create the trigger.
        '--log-bin-trust-function-creators=1',
        '--innodb-flush-log-at-trx-commit=2',
        '--sync-binlog=0',
      ],
      readyTimeoutMs: READY_TIMEOUT_MS,
      stopGraceMs: STOP_GRACE_MS,
    });
    const account = newAppAccount('push_app');
    await runStatements(server.rootUrl, [
      `CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      ...createAppAccountSql(account, DATABASE, { requireTls: true }),
    ]);
    const started = server;
    return {
      port: started.port,
      certificates,
      rootUrl: `${started.rootUrl}${DATABASE}`,
      account,
      database: DATABASE,
      appUrl(params = {}, host = '127.0.0.1') {
        const url = new URL(appUrlOf(started.rootUrl, account, DATABASE));
        url.hostname = host;
        for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
        return url.toString();
      },
      async stop() {
        await started.stop();
        await rm(certDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.stop();
    await rm(certDir, { recursive: true, force: true });
    throw error;
  }
}

/** A CA, a server certificate it signs for IP 127.0.0.1, and an unrelated CA, in `dir`. */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const file = (name: string) => join(dir, name);
  // EC keys: generated in milliseconds; MariaDB, MySQL and Node all accept them.
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const makeCa = (name: string, subject: string) =>
    openssl([
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.pem`),
      '-days',
      '7',
      '-subj',
      subject,
    ]);
  await Promise.all([
    makeCa('ca', '/CN=push test CA'),
    makeCa('wrong-ca', '/CN=push unrelated CA'),
    openssl([
      'req',
      ...newKey,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=push test server',
    ]),
  ]);
  await writeFile(
    file('server.ext'),
    [
      'basicConstraints = CA:FALSE',
      'keyUsage = digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.pem'),
    '-days',
    '7',
    '-extfile',
    file('server.ext'),
  ]);
  return {
    caFile: file('ca.pem'),
    wrongCaFile: file('wrong-ca.pem'),
    serverCertFile: file('server.pem'),
    serverKeyFile: file('server.key'),
  };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: 30_000 });
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: string };
    const hint = code === 'ENOENT' ? ' (apt-get install -y openssl)' : '';
    throw new Error(`openssl ${args[0]} failed${hint}: ${stderr ?? String(error)}`, {
      cause: error,
    });
  }
}
