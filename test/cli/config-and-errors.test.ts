// What an operator sees when something is wrong (SPEC §6, STYLE "failing fast with the
// variable's name"): bad settings name the variable and never echo a secret; the CLI, run as
// the real child process `node dist/src/cli.js`, turns an unreachable MySQL or Redis, a
// misused command or a refused migration into one plain message and exit code 1, without a
// stack trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { runCli } from '../support/run-cli.js';

/** How a stack trace line starts; none may reach an operator's terminal. */
const STACK_LINE = '    at ';

function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('accepts an empty environment (the local defaults) and freezes the result', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toMatch(/^mysql:\/\//);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'postgres://push@127.0.0.1:5432/push'],
    ['DATABASE_URL', '127.0.0.1:3306/push'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['SINGER_URL', 'singer.internal'],
    ['ROLES', 'poller,cook'],
    ['POLL_BATCH_SIZE', 'lots'],
    ['POLL_BATCH_SIZE', '0'],
    ['POLL_BATCH_SIZE', '2.5'],
    ['POLL_INTERVAL_MS', '-5'],
    ['CLAIM_TIMEOUT_S', '0'],
    ['CLAIM_TIMEOUT_S', 'soon'],
    ['DB_QUERY_TIMEOUT_MS', '10'],
    ['DB_QUERY_TIMEOUT_MS', '0'],
    ['ORDERS_TABLE', 'orders; DROP TABLE orders'],
    ['ORDER_COLUMNS', 'status'],
    ['ORDER_COLUMNS', 'colour=hue'],
  ])('rejects %s=%s with a ConfigError naming the variable', (name, value) => {
    const error = configErrorOf({ [name]: value });
    expect(error.message).toMatch(/^invalid configuration:/);
    expect(error.message).toContain(`\n  ${name}`);
  });

  it('names every bad variable at once, not only the first', () => {
    const error = configErrorOf({ PORT: 'abc', ROLES: 'cook', POLL_BATCH_SIZE: 'x' });
    for (const name of ['PORT', 'ROLES', 'POLL_BATCH_SIZE'])
      expect(error.message).toContain(`  ${name}`);
  });

  it('rejects a CLAIM_TIMEOUT_S that a healthy poller could outwait between two queries', () => {
    // The default error back-off (30 s) leaves the claim session quiet for up to 30 s.
    expect(loadConfig({}).claimTimeoutS).toBe(60);
    const error = configErrorOf({ CLAIM_TIMEOUT_S: '45' });
    expect(error.message).toContain('\n  CLAIM_TIMEOUT_S (got "45")');
    expect(error.message).toMatch(/POLL_ERROR_BACKOFF_MAX_MS \(30000 ms\)/);
    expect(
      loadConfig({ CLAIM_TIMEOUT_S: '2', POLL_ERROR_BACKOFF_MAX_MS: '1000' }).claimTimeoutS,
    ).toBe(2);
  });

  it('gives MySQL queries a 10 s deadline unless DB_QUERY_TIMEOUT_MS says otherwise', () => {
    expect(loadConfig({}).dbQueryTimeoutMs).toBe(10_000);
    expect(loadConfig({ DB_QUERY_TIMEOUT_MS: '2000' }).dbQueryTimeoutMs).toBe(2_000);
  });

  it('rejects DASHBOARD_USER without DASHBOARD_PASSWORD, and the reverse', () => {
    expect(configErrorOf({ DASHBOARD_USER: 'ops' }).message).toMatch(
      /DASHBOARD_USER and DASHBOARD_PASSWORD must be set together/,
    );
    const reverse = configErrorOf({ DASHBOARD_PASSWORD: 'pw-s3cret' });
    expect(reverse.message).toMatch(/DASHBOARD_USER and DASHBOARD_PASSWORD/);
    expect(reverse.message).not.toContain('pw-s3cret');
  });

  it('never echoes a secret in its message', () => {
    const error = configErrorOf({
      PORT: 'abc',
      SINGER_TOKEN: 'tok-s3cret',
      DASHBOARD_USER: 'ops',
      DASHBOARD_PASSWORD: 'pw-s3cret',
      // Wrong scheme, so shown back to the operator, but with its password masked.
      DATABASE_URL: 'postgres://push:db-s3cret@127.0.0.1:5432/push',
      REDIS_URL: 'http://:redis-s3cret@127.0.0.1:6379',
    });
    expect(error.message).toContain('DATABASE_URL');
    expect(error.message).toContain('REDIS_URL');
    for (const secret of ['tok-s3cret', 'pw-s3cret', 'db-s3cret', 'redis-s3cret']) {
      expect(error.message).not.toContain(secret);
    }
  });
});

describe('the push CLI, when something is wrong', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('cli-errors');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('migrate: says it cannot reach MySQL, where (password masked) and how to start one', async () => {
    const run = await runCli(['migrate'], {
      DATABASE_URL: 'mysql://push:db-s3cret@127.0.0.1:1/push',
    });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot reach MySQL at mysql://push:***@127.0.0.1:1/push');
    expect(run.stderr).toMatch(/Start one .*docker compose up -d mysql/s);
    expect(run.stderr).toContain('DATABASE_URL');
    expect(run.stderr + run.stdout).not.toContain('db-s3cret');
    expect(run.stderr).not.toContain(STACK_LINE);
  });

  it('start: says it cannot reach Redis, where and how to start one', async () => {
    const run = await runCli(['start'], {
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://127.0.0.1:1',
      PORT: '0',
      LOG_LEVEL: 'silent',
    });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot reach Redis at REDIS_URL=redis://127.0.0.1:1');
    expect(run.stderr).toContain('REDIS_URL');
    expect(run.stderr).not.toContain(STACK_LINE);
  });

  it('start: names PORT when PORT=abc, before touching anything', async () => {
    const run = await runCli(['start'], {
      PORT: 'abc',
      DATABASE_URL: 'mysql://push@127.0.0.1:1/push',
    });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/invalid configuration:\n\s+PORT \(got "abc"\)/);
    expect(run.stderr).not.toContain('MySQL');
    expect(run.stderr).not.toContain(STACK_LINE);
  });

  it('dlq replay: asks for event ids or --all when given neither', async () => {
    // Redis at a closed port: the usage check must come before any connection.
    const run = await runCli(['dlq', 'replay'], { REDIS_URL: 'redis://127.0.0.1:1' });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('name the event ids to replay, or --all');
    expect(run.stderr).not.toContain(STACK_LINE);
  });

  it('dlq replay: refuses event ids together with --all, and an id that is not a number', async () => {
    const both = await runCli(['dlq', 'replay', '42', '--all'], {
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('name the event ids to replay, or --all (not both)');

    const notAnId = await runCli(['dlq', 'replay', 'evt-42'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(notAnId.code).toBe(1);
    expect(notAnId.stderr).toContain('"evt-42" is not an event id');
    expect(both.stderr + notAnId.stderr).not.toContain(STACK_LINE);
  });

  it('migrate: names the missing status_reason column of orders, without a stack trace', async () => {
    await db.knex.raw(`
      CREATE TABLE orders (
        id         BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
        patient_id BIGINT UNSIGNED NOT NULL,
        nurse_id   BIGINT UNSIGNED NULL,
        status     VARCHAR(32) NOT NULL
      )`);

    const run = await runCli(['migrate'], { DATABASE_URL: db.url });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('table `orders` has no column `status_reason`');
    expect(run.stderr + run.stdout).not.toContain(STACK_LINE);
  });
});
