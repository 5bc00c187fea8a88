// TLS to MySQL on a real server: a private MariaDB with certificates made by openssl at setup
// (tls-mariadb.ts) and the application account created REQUIRE SSL, so a session that is not
// encrypted is refused outright. Proves that the knex pool, the poller's claim connection and
// every command encrypt as DATABASE_URL's ssl-mode says, that the whole pipeline delivers with
// VERIFY_IDENTITY, and that each way TLS can fail says so, naming the host, never the password.
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/config.js';
import {
  assertDatabaseReachable,
  connectDatabase,
  describeDatabaseError,
} from '../../src/db/connect-database.js';
import {
  createOrderServiceTables,
  insertSampleNurses,
} from '../../src/demo/order-service-schema.js';
import { readSessionTls } from '../../src/doctor/check-mysql-tls.js';
import { openClaimConnection } from '../../src/outbox/claim-connection.js';
import { startStubSinger, type StubSinger } from '../../src/singer/stub-singer.js';
import { mysqlLogin } from '../support/mysql-login.js';
import { eventually } from '../support/pipeline-harness.js';
import { runCli } from '../support/run-cli.js';
import { startServiceProcess, stopAllServiceProcesses } from '../support/service-process.js';
import { startTcpRelay } from '../support/tcp-relay.js';
import { deleteQueueKeys, testQueuePrefix, testRedisUrl } from '../support/test-database.js';
import { startTlsMariaDb, type TlsMariaDb } from '../support/tls-mariadb.js';

const STACK_LINE = '    at ';
const CLAIM_SETTINGS = { idleTimeoutS: 60, queryTimeoutMs: 10_000 };

let server: TlsMariaDb;
/** The app account with ssl-mode=VERIFY_IDENTITY and the test CA: what production should use. */
let verifyUrl: string;
const opened: Array<{ destroy(): Promise<void> }> = [];

beforeAll(async () => {
  server = await startTlsMariaDb();
  verifyUrl = server.appUrl({
    'ssl-mode': 'VERIFY_IDENTITY',
    'ssl-ca': server.certificates.caFile,
  });
});

afterAll(async () => {
  await stopAllServiceProcesses();
  await Promise.allSettled(opened.map((knex) => knex.destroy()));
  await server?.stop();
});

/** A product pool on `url` (connectDatabase), destroyed after the file. */
function productPool(url: string): Knex {
  const knex = connectDatabase(url, 1);
  opened.push(knex);
  return knex;
}

/** What assertDatabaseReachable throws for `url` (the message the CLI prints). */
async function loginError(url: string): Promise<Error> {
  const error = await assertDatabaseReachable(productPool(url), url).then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  if (!error) throw new Error(`logging in with ${redactUrl(url)} worked, and it should not have`);
  return error;
}

function expectNoPassword(text: string): void {
  expect(text).not.toContain(server.account.password);
  expect(text).not.toContain(encodeURIComponent(server.account.password));
}

describe('connections', () => {
  it('encrypts the knex pool and the poller claim connection with VERIFY_IDENTITY for a certificate naming 127.0.0.1', async () => {
    const pool = await readSessionTls(productPool(verifyUrl));
    expect(pool.version).toMatch(/^TLSv1\.[23]$/);
    expect(pool.cipher).not.toBe('');

    const claims = openClaimConnection(verifyUrl, CLAIM_SETTINGS);
    try {
      const rows = await claims.query<Array<{ Variable_name: string; Value: string }>>(
        "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')",
      );
      const status = Object.fromEntries(rows.map((row) => [row.Variable_name, row.Value]));
      expect(status).toEqual({ Ssl_version: pool.version, Ssl_cipher: pool.cipher });
    } finally {
      await claims.close();
    }
  });

  it('encrypts with ssl-mode=REQUIRED without any CA', async () => {
    const session = await readSessionTls(productPool(server.appUrl({ 'ssl-mode': 'REQUIRED' })));
    expect(session.cipher).not.toBe('');
  });

  it('refuses a server certificate that another CA signed: TLS failed, why, where, no password', async () => {
    const url = server.appUrl({
      'ssl-mode': 'VERIFY_IDENTITY',
      'ssl-ca': server.certificates.wrongCaFile,
    });
    const error = await loginError(url);
    expect(error.message).toContain(
      `TLS to MySQL at mysql://push_app:***@127.0.0.1:${server.port}/app?`,
    );
    expect(error.message).toContain(
      `the server's certificate is not signed by the CA in ssl-ca (${server.certificates.wrongCaFile})`,
    );
    expect(error.message).toContain('HANDSHAKE_SSL_ERROR');
    expectNoPassword(error.message);

    // The poller's own connection fails the same way, and is described the same way.
    const claims = openClaimConnection(url, CLAIM_SETTINGS);
    try {
      const claimError = await claims.query('SELECT 1').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((claimError as { code?: string }).code).toBe('HANDSHAKE_SSL_ERROR');
      expect(describeDatabaseError(claimError, url).message).toBe(error.message);
    } finally {
      await claims.close();
    }
  });

  it('VERIFY_IDENTITY refuses a certificate that names another host, VERIFY_CA accepts it', async () => {
    // The certificate names IP 127.0.0.1 only; `localhost` reaches the same server by a name
    // the certificate does not list.
    const params = { 'ssl-ca': server.certificates.caFile };
    const byName = (mode: string) => server.appUrl({ 'ssl-mode': mode, ...params }, 'localhost');
    const error = await loginError(byName('VERIFY_IDENTITY'));
    expect(error.message).toContain(
      `TLS to MySQL at mysql://push_app:***@localhost:${server.port}`,
    );
    expect(error.message).toContain(
      "the server's certificate does not name localhost. Connect by a name the certificate " +
        'lists, or use ssl-mode=VERIFY_CA',
    );
    expectNoPassword(error.message);

    const session = await readSessionTls(productPool(byName('VERIFY_CA')));
    expect(session.cipher).not.toBe('');
  });

  it('VERIFY_IDENTITY to an IP address checks that IP: 127.0.0.2 is refused, 127.0.0.1 was accepted', async () => {
    // The same server through a relay on 127.0.0.2 (all of 127/8 is this machine on Linux):
    // the certificate lists IP 127.0.0.1 only. Without database-url.ts's socketNamedByIp, Node
    // would compare "localhost" instead and refuse 127.0.0.1 too (the first test).
    const relay = await startTcpRelay('127.0.0.1', server.port, { listenHost: '127.0.0.2' });
    try {
      const url = new URL(
        server.appUrl(
          { 'ssl-mode': 'VERIFY_IDENTITY', 'ssl-ca': server.certificates.caFile },
          '127.0.0.2',
        ),
      );
      url.port = String(relay.port);
      const error = await loginError(url.toString());
      expect(error.message).toContain("the server's certificate does not name 127.0.0.2");
      expect(error.message).toMatch(/IP: 127\.0\.0\.2 is not in the cert's list/);
    } finally {
      await relay.close();
    }
  });

  it('is refused without ssl-mode, because the account requires TLS, and says to add ssl-mode', async () => {
    const error = await loginError(server.appUrl());
    expect(error.message).toContain(
      `MySQL at mysql://push_app:***@127.0.0.1:${server.port}/app refused the login (ER_ACCESS_DENIED_ERROR)`,
    );
    expect(error.message).toContain(
      'if the account or the server requires TLS (REQUIRE SSL, require_secure_transport), ' +
        'add ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<CA bundle>',
    );
    expectNoPassword(error.message);
  });
});

describe('every command over TLS', () => {
  let singer: StubSinger;
  let orderService: Knex;
  const prefix = testQueuePrefix('mysql-tls');
  let env: Record<string, string>;

  beforeAll(async () => {
    singer = await startStubSinger();
    // The order service's own connection, as that service would open it: encrypted too.
    orderService = knexFactory({
      client: 'mysql2',
      connection: mysqlLogin(verifyUrl) as Knex.MySql2ConnectionConfig,
      pool: { min: 0, max: 2 },
    });
    opened.push(orderService);
    await createOrderServiceTables(orderService);
    await insertSampleNurses(orderService);
    env = {
      DATABASE_URL: verifyUrl,
      REDIS_URL: testRedisUrl(),
      SINGER_URL: singer.url,
      QUEUE_PREFIX: prefix,
    };
  });

  afterAll(async () => {
    await stopAllServiceProcesses();
    await singer?.close();
    await deleteQueueKeys(testRedisUrl(), prefix);
  });

  it('push start and push migrate refuse a bad ssl-mode by name before connecting', async () => {
    const bad = server.appUrl({ 'ssl-mode': 'VERIFY_EVERYTHING' });
    for (const command of ['start', 'migrate']) {
      const run = await runCli([command], { ...env, DATABASE_URL: bad });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('invalid configuration:');
      expect(run.stderr).toContain(
        `  DATABASE_URL (got "mysql://push_app:***@127.0.0.1:${server.port}/app?ssl-mode=VERIFY_EVERYTHING"): ` +
          'ssl-mode "VERIFY_EVERYTHING" must be one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY',
      );
      expectNoPassword(run.stderr + run.stdout);
      expect(run.stderr).not.toContain(STACK_LINE);
    }
  });

  it('push migrate, then push start delivers a status change with ssl-mode=VERIFY_IDENTITY', async () => {
    const migrate = await runCli(['migrate'], env);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);

    const service = await startServiceProcess({
      name: 'tls',
      databaseUrl: verifyUrl,
      redisUrl: testRedisUrl(),
      singerUrl: singer.url,
      queuePrefix: prefix,
    });
    await service.waitUntilReady(30_000);
    const [id] = await orderService('orders').insert({ patient_id: 77, status: 'PAYING' });
    await orderService('orders').where({ id }).update({ status: 'AWAITING_ACCEPT' });
    const pushes = await eventually(
      () => (singer.requests.length > 0 ? singer.requests : undefined),
      30_000,
      () => `no push reached Singer; push start said:\n${service.output()}`,
    );
    expect(pushes[0]?.body.data.orderId).toBe(String(id));
    // The account is REQUIRE SSL, so the poller could only claim over an encrypted session.
    expect(service.output()).not.toMatch(/ER_ACCESS_DENIED_ERROR|HANDSHAKE/);

    // trace reads the outbox and push_attempts over TLS, and says the patient was told (once
    // the worker has written its batch of attempts, off the delivery path).
    let lastTrace = '';
    await eventually(
      async () => {
        const trace = await runCli(['trace', String(id), '--json'], env);
        expect(trace.stderr).toBe('');
        expect(trace.code).toBe(0);
        lastTrace = trace.stdout;
        const told = (JSON.parse(trace.stdout) as { told: Array<{ told: string }> }).told;
        return told.some((push) => push.told === 'yes') ? true : undefined;
      },
      30_000,
      () => `push trace never said "yes":\n${lastTrace}`,
    );
    await service.stop();

    const dlq = await runCli(['dlq', 'list'], env);
    expect(dlq.stderr).toBe('');
    expect(dlq.stdout.trim()).toBe('no dead-lettered pushes');
  });

  it('push doctor says its session is encrypted, with the TLS version and cipher', async () => {
    const run = await runCli(['doctor', '--json'], env);
    const report = JSON.parse(run.stdout) as {
      checks: Array<{ check: string; verdict: string; summary: string; details: string[] }>;
    };
    const tls = report.checks.find((check) => check.check === 'mysql tls');
    expect(tls).toMatchObject({ verdict: 'ok' });
    expect(tls?.summary).toMatch(/^encrypted: TLSv1\.[23], \S+ \(ssl-mode=VERIFY_IDENTITY\)$/);
    const verdicts = Object.fromEntries(report.checks.map((c) => [c.check, c.verdict]));
    expect(verdicts).toMatchObject({ grants: 'ok', trigger: 'ok', redis: 'ok', singer: 'ok' });
    expect(run.code).toBe(0);

    const required = await runCli(['doctor'], {
      ...env,
      DATABASE_URL: server.appUrl({ 'ssl-mode': 'REQUIRED' }),
    });
    expect(required.stdout).toMatch(
      /^ok {4}mysql tls {7}encrypted: TLSv1\.[23], \S+ \(ssl-mode=REQUIRED\)$/m,
    );
    expect(required.stdout).toContain(
      "ssl-mode=REQUIRED encrypts but does not check the server's certificate",
    );
  });
});
