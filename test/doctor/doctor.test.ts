import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { connectDatabase } from '../../src/db/connect-database.js';
import { TRIGGER_NAME, triggerSql } from '../../src/db/order-trigger.js';
import { migrationContextOf } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { openClaimConnection } from '../../src/outbox/claim-connection.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { judgeServerVersion } from '../../src/doctor/check-server-version.js';
import { judgeGrants } from '../../src/doctor/check-grants.js';
import {
  parseGrants,
  privilegesOnDatabase,
  hasGlobalPrivilege,
} from '../../src/doctor/parse-grants.js';
import { startStubSinger, type StubSinger } from '../../src/singer/stub-singer.js';
import { startRdsLikeMariaDb, type RdsLikeServer } from '../support/rds-like-mariadb.js';
import { testRedisUrl } from '../support/test-database.js';
import { runCli } from '../support/run-cli.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { findFreePort } from '../../bench/local-process.js';

interface DoctorJson {
  ok: boolean;
  failures: number;
  warnings: number;
  checks: Array<{
    check: string;
    verdict: 'ok' | 'warn' | 'fail';
    summary: string;
    details: string[];
    fix?: string;
  }>;
}

const push = runCli;

async function doctor(env: Record<string, string>) {
  const { code, stdout, stderr } = await push(['doctor', '--json'], env);
  if (stdout.trim() === '')
    throw new Error(`push doctor printed nothing (exit ${code}): ${stderr}`);
  const report = JSON.parse(stdout) as DoctorJson;
  const verdicts = Object.fromEntries(report.checks.map((c) => [c.check, c.verdict]));
  const check = (name: string) => {
    const found = report.checks.find((c) => c.check === name);
    if (!found) throw new Error(`no "${name}" check in ${stdout}`);
    return found;
  };
  return { code, report, verdicts, check };
}

const ALL_OK = {
  'mysql tls': 'ok',
  'server version': 'ok',
  grants: 'ok',
  'binary logging': 'ok',
  trigger: 'ok',
  'outbox columns': 'ok',
  'outbox backlog': 'ok',
  redis: 'ok',
  singer: 'ok',
};

describe('push doctor against a least-privilege account on a server with binary logging on', () => {
  let server: RdsLikeServer;
  let singer: StubSinger;
  let evictingRedis: PrivateRedis;
  let env: Record<string, string>;

  beforeAll(async () => {
    [server, singer, evictingRedis] = await Promise.all([
      startRdsLikeMariaDb(),
      startStubSinger(),
      startPrivateRedis({ maxmemoryPolicy: 'allkeys-lru' }),
    ]);
    // What an operator does on RDS: the parameter group says trust = 1, then migrate.
    await server.setTrustFunctionCreators(true);
    const config = loadConfig({ DATABASE_URL: server.appUrl });
    const knex = connectDatabase(server.appUrl, 1);
    try {
      await createOrderServiceTables(knex);
      await migrateLatest(knex, migrationContextOf(config));
    } finally {
      await knex.destroy();
    }
    env = { DATABASE_URL: server.appUrl, REDIS_URL: testRedisUrl(), SINGER_URL: singer.url };
  });

  afterAll(async () => {
    await Promise.allSettled([server?.stop(), singer?.close(), evictingRedis?.destroy()]);
  });

  it('is ok with log_bin_trust_function_creators=1, and says no REPLICATION grant is needed', async () => {
    await server.setTrustFunctionCreators(true);
    const { code, report, verdicts, check } = await doctor(env);
    expect(verdicts).toEqual(ALL_OK);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, failures: 0, warnings: 0 });
    expect(check('grants').details.join('\n')).toContain(
      'no REPLICATION SLAVE / REPLICATION CLIENT grant is needed',
    );
    expect(check('binary logging').summary).toContain(
      'log_bin = ON, log_bin_trust_function_creators = ON',
    );
    expect(singer.requests).toHaveLength(0);
  });

  it('fails with the parameter-group fix when log_bin_trust_function_creators is 0', async () => {
    await server.setTrustFunctionCreators(false);
    try {
      const { code, verdicts, check } = await doctor(env);
      expect(code).toBe(1);
      expect(verdicts).toEqual({ ...ALL_OK, 'binary logging': 'fail' });
      const binaryLogging = check('binary logging');
      expect(binaryLogging.summary).toContain('error 1419');
      expect(binaryLogging.fix).toContain('log_bin_trust_function_creators = 1');
      expect(binaryLogging.fix).toContain('AWS RDS: in the DB parameter group');
      expect(binaryLogging.details.join('\n')).toContain('only matters for migrating');
    } finally {
      await server.setTrustFunctionCreators(true);
    }
  });

  it("fails with binlog_format = STATEMENT, under which the poller's READ COMMITTED claims fail with 1665", async () => {
    const [[before]] = await asRootQuery<{ format: string }>(
      server,
      'SELECT @@GLOBAL.binlog_format AS format',
    );
    // Root: a server parameter; new sessions (the doctor's, the claim's) see it.
    await asRoot(server, 'SET GLOBAL binlog_format = STATEMENT');
    try {
      const claims = openClaimConnection(server.appUrl, {
        idleTimeoutS: 60,
        queryTimeoutMs: 10_000,
      });
      try {
        const refused = await claims
          .query('UPDATE order_events SET handed_off_at = handed_off_at WHERE id = 0')
          .then(
            () => undefined,
            (err: unknown) => err as { errno?: number },
          );
        expect(refused?.errno).toBe(1665);
      } finally {
        await claims.close();
      }
      const { code, verdicts, check } = await doctor(env);
      expect(code).toBe(1);
      expect(verdicts).toEqual({ ...ALL_OK, 'binary logging': 'fail' });
      expect(check('binary logging').summary).toContain(
        'binlog_format = STATEMENT: every claim fails with error 1665',
      );
      expect(check('binary logging').fix).toContain('binlog_format = ROW (or MIXED)');
    } finally {
      await asRoot(server, `SET GLOBAL binlog_format = ${before?.format ?? 'MIXED'}`);
    }
  });

  it('warns when Redis has an evicting maxmemory-policy, and exits 0', async () => {
    const { code, verdicts, check } = await doctor({ ...env, REDIS_URL: evictingRedis.url });
    expect(code).toBe(0);
    expect(verdicts).toEqual({ ...ALL_OK, redis: 'warn' });
    expect(check('redis').summary).toContain('maxmemory-policy allkeys-lru');
    expect(check('redis').fix).toContain('CONFIG SET maxmemory-policy noeviction');
  });

  it('fails with the GRANT statement when the TRIGGER grant is missing', async () => {
    await asRoot(server, `REVOKE TRIGGER ON ${server.database}.* FROM '${server.appUser}'@'%'`);
    try {
      const { code, verdicts, check } = await doctor(env);
      expect(code).toBe(1);
      expect(verdicts.grants).toBe('fail');
      expect(check('grants').summary).toBe(
        `${server.appUser}@% lacks TRIGGER on \`${server.database}\``,
      );
      expect(check('grants').fix).toBe(
        `as an administrator: GRANT TRIGGER ON \`${server.database}\`.* TO '${server.appUser}'@'%';`,
      );
      // Without TRIGGER, information_schema hides the trigger: say so rather than "missing".
      expect(verdicts.trigger).toBe('fail');
      expect(check('trigger').summary).toContain('only to accounts with the TRIGGER privilege');

      const text = await push(['doctor'], env);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/^fail {2}grants {10}push_app@% lacks TRIGGER/m);
      expect(text.stdout).toContain(
        `fix: as an administrator: GRANT TRIGGER ON \`${server.database}\`.* TO`,
      );
    } finally {
      await asRoot(server, `GRANT TRIGGER ON ${server.database}.* TO '${server.appUser}'@'%'`);
    }
  });

  it('fails when the trigger differs from this version, and `push migrate` puts it right', async () => {
    const ctx = migrationContextOf(loadConfig({ DATABASE_URL: server.appUrl }));
    // The demo schema's VARCHAR(32) columns give an outbox of 64 characters.
    const current = triggerSql(ctx, { status: 64, reason: 64 });
    // Someone "simplified" it by hand: reason-only changes would no longer be recorded.
    const edited = current.replace(
      /\n\s+OR NOT \(OLD\.`status_reason` <=> NEW\.`status_reason`\)/,
      '',
    );
    expect(edited).not.toBe(current);
    await asApp(server, [`DROP TRIGGER ${TRIGGER_NAME}`, edited]);
    try {
      const { code, verdicts, check } = await doctor(env);
      expect(code).toBe(1);
      expect(verdicts).toEqual({ ...ALL_OK, trigger: 'fail' });
      expect(check('trigger').details.join('\n')).toContain("its body differs from this version's");
      expect(check('trigger').fix).toContain('run `npx push migrate`');

      const migrated = await push(['migrate'], env);
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(migrated.stdout).toContain(`CREATE OR REPLACE TRIGGER \`${TRIGGER_NAME}\``);
      expect((await doctor(env)).verdicts).toEqual(ALL_OK);
    } finally {
      await asApp(server, [`DROP TRIGGER IF EXISTS ${TRIGGER_NAME}`, current]);
    }
  });

  it('warns when the oldest unclaimed event has waited minutes, and fails after ten', async () => {
    const insertWaiting = (minutes: number) =>
      asApp(server, [
        `INSERT INTO order_events (order_id, to_status, created_at)
         VALUES (1, 'AWAITING_SERVICE', CURRENT_TIMESTAMP(3) - INTERVAL ${minutes} MINUTE)`,
      ]);
    try {
      await insertWaiting(5);
      const warned = await doctor(env);
      expect(warned.code).toBe(0);
      expect(warned.verdicts).toEqual({ ...ALL_OK, 'outbox backlog': 'warn' });
      expect(warned.check('outbox backlog').summary).toBe(
        '1 event(s) waiting for a poller, the oldest for 5 min',
      );

      await asApp(server, ['DELETE FROM order_events']);
      await insertWaiting(30);
      const failed = await doctor(env);
      expect(failed.code).toBe(1);
      expect(failed.check('outbox backlog')).toMatchObject({
        verdict: 'fail',
        summary: expect.stringContaining('30 min'),
      });
    } finally {
      await asApp(server, ['DELETE FROM order_events']);
    }
  });

  it('fails the mysql check saying the server offers no TLS, when DATABASE_URL asks for it', async () => {
    const url = new URL(server.appUrl);
    url.searchParams.set('ssl-mode', 'REQUIRED');
    const { code, check } = await doctor({ ...env, DATABASE_URL: url.toString() });
    expect(code).toBe(1);
    expect(check('mysql')).toMatchObject({ verdict: 'fail' });
    expect(check('mysql').summary).toContain(
      'failed: the server does not offer TLS, and DATABASE_URL asks for ssl-mode=REQUIRED',
    );
  });

  it('fails when Singer does not answer, having sent nothing', async () => {
    const closedPort = await findFreePort();
    const { code, verdicts, check } = await doctor({
      ...env,
      SINGER_URL: `http://127.0.0.1:${closedPort}`,
    });
    expect(code).toBe(1);
    expect(verdicts).toEqual({ ...ALL_OK, singer: 'fail' });
    expect(check('singer').summary).toContain('ECONNREFUSED');
  });
});

describe('reading grants and versions', () => {
  it('counts database-level and global grants, ALL PRIVILEGES and LIKE patterns; not columns or roles', () => {
    const grants = parseGrants([
      "GRANT USAGE ON *.* TO `push_app`@`%` IDENTIFIED BY PASSWORD '*ABC'",
      'GRANT SELECT, INSERT ON `app`.* TO `push_app`@`%`',
      'GRANT UPDATE (status), DELETE ON `app`.`orders` TO `push_app`@`%`',
      'GRANT ALL PRIVILEGES ON `other\\_%`.* TO `push_app`@`%`',
      'GRANT `reporting`@`%` TO `push_app`@`%`',
    ]);
    expect([...privilegesOnDatabase(grants, 'app')].sort()).toEqual(['INSERT', 'SELECT', 'USAGE']);
    expect(privilegesOnDatabase(grants, 'other_db').has('ALL PRIVILEGES')).toBe(true);
    expect(privilegesOnDatabase(grants, 'otherXdb').has('ALL PRIVILEGES')).toBe(false);
    expect(grants.roles).toEqual(['reporting@%']);
    expect(hasGlobalPrivilege(grants, 'SUPER')).toBe(false);
    expect(
      hasGlobalPrivilege(
        parseGrants(['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION']),
        'SUPER',
      ),
    ).toBe(true);
  });

  it('asks for LOCK TABLES on MySQL, where push replaces its trigger under it, and not on MariaDB', () => {
    const withoutLockTables = parseGrants([
      'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER ON `app`.* TO `push_app`@`%`',
    ]);
    const account = {
      user: 'push_app',
      host: '%',
      database: 'app',
      grants: withoutLockTables,
      activeRoles: [],
    };
    expect(judgeGrants({ ...account, flavor: 'MariaDB' }).verdict).toBe('ok');
    const onMySql = judgeGrants({ ...account, flavor: 'MySQL' });
    expect(onMySql).toMatchObject({
      verdict: 'fail',
      summary: 'push_app@% lacks LOCK TABLES on `app`',
      fix: "as an administrator: GRANT LOCK TABLES ON `app`.* TO 'push_app'@'%';",
    });
    expect(onMySql.details.join('\n')).toContain('MySQL has no CREATE OR REPLACE TRIGGER');
  });

  it('knows which servers have SKIP LOCKED', () => {
    expect(judgeServerVersion('10.11.19-MariaDB-0+deb12u1').verdict).toBe('ok');
    expect(judgeServerVersion('10.5.23-MariaDB').verdict).toBe('fail');
    expect(judgeServerVersion('8.0.36-0ubuntu0.22.04.1').verdict).toBe('ok');
    expect(judgeServerVersion('8.0.0-dmr').verdict).toBe('fail');
    expect(judgeServerVersion('5.7.44-log')).toMatchObject({
      verdict: 'fail',
      fix: expect.stringContaining('MySQL 8.0.1'),
    });
  });
});

async function asRoot(server: RdsLikeServer, sql: string): Promise<void> {
  const connection = await createConnection({ uri: server.rootUrl });
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}

async function asRootQuery<T>(server: RdsLikeServer, sql: string): Promise<[T[]]> {
  const connection = await createConnection({ uri: server.rootUrl });
  try {
    return (await connection.query(sql)) as unknown as [T[]];
  } finally {
    await connection.end();
  }
}

async function asApp(server: RdsLikeServer, statements: string[]): Promise<void> {
  const connection = await createConnection({ uri: server.appUrl });
  try {
    for (const sql of statements) await connection.query(sql);
  } finally {
    await connection.end();
  }
}
