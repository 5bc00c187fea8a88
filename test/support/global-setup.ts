// Vitest globalSetup: decides where the tests' MySQL and Redis are, once per run, and hands the
// addresses to every test file through `inject('testDatabaseUrl' | 'testRedisUrl')`.
//
// Order: TEST_DATABASE_URL + TEST_REDIS_URL (CI, `bash .ci/run`); otherwise containers when a Docker
// engine answers (a laptop); otherwise fail with a message that says how to fix it. Never skip:
// a suite that passes because nothing ran is worse than one that fails.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { TestProject } from 'vitest/node';
import { buildCliIfStale } from './build-cli.js';
import { withDatabaseName } from '../../src/db/database-url.js';
import { mysqlLogin } from './mysql-login.js';
import { findDockerProblem } from './docker-engine.js';
import { redactUrl } from '../../src/redact-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A MySQL server and an account that may create databases; the path's database is ignored. */
    testDatabaseUrl: string;
    testRedisUrl: string;
  }
}

interface TestServers {
  databaseUrl: string;
  redisUrl: string;
  /** Where the addresses came from, for messages. */
  source: 'env' | 'docker';
  stop(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 5_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildCliIfStale();
  const servers = await locateServers();
  try {
    await checkServersAnswer(servers);
  } catch (error) {
    await servers.stop();
    throw error;
  }
  console.log(
    `[global-setup] tests use MySQL at ${redactUrl(servers.databaseUrl)} and Redis at ` +
      `${redactUrl(servers.redisUrl)} (${servers.source === 'env' ? 'from TEST_DATABASE_URL / TEST_REDIS_URL' : 'containers started with Docker'})`,
  );
  project.provide('testDatabaseUrl', servers.databaseUrl);
  project.provide('testRedisUrl', servers.redisUrl);
  return () => servers.stop();
}

async function locateServers(): Promise<TestServers> {
  const databaseUrl = process.env.TEST_DATABASE_URL?.trim() || undefined;
  const redisUrl = process.env.TEST_REDIS_URL?.trim() || undefined;
  if (databaseUrl && redisUrl) {
    return { databaseUrl, redisUrl, source: 'env', stop: async () => {} };
  }
  if (databaseUrl || redisUrl) {
    const missing = databaseUrl ? 'TEST_REDIS_URL' : 'TEST_DATABASE_URL';
    const present = databaseUrl ? 'TEST_DATABASE_URL' : 'TEST_REDIS_URL';
    throw new Error(
      [
        `${present} is set but ${missing} is not: set both, or neither (to use Docker).`,
        'For example:',
        `  ${EXAMPLE_COMMAND}`,
      ].join('\n'),
    );
  }

  const dockerProblem = await findDockerProblem();
  if (dockerProblem === undefined) return startContainers();

  throw new Error(
    [
      'The tests need a real MySQL and a real Redis, and there is no way to get them:',
      '  - TEST_DATABASE_URL and TEST_REDIS_URL are not set, and',
      `  - no Docker engine answers for testcontainers (${dockerProblem}).`,
      'Either point the tests at running servers, for example',
      `  ${EXAMPLE_COMMAND}`,
      '(the MySQL account must be able to CREATE and DROP databases: each test file makes its own),',
      'or start a Docker engine and run `npm test` again.',
      '`bash .ci/run` does the former and starts the local MariaDB and Redis if they are down.',
    ].join('\n'),
  );
}

const EXAMPLE_COMMAND =
  'TEST_DATABASE_URL=mysql://root@127.0.0.1:3306/test TEST_REDIS_URL=redis://127.0.0.1:6379 npm test';

async function startContainers(): Promise<TestServers> {
  const { MySqlContainer } = await import('@testcontainers/mysql');
  const { RedisContainer } = await import('@testcontainers/redis');
  console.log('[global-setup] starting mysql:8.0 and redis:7 containers');
  // Binary logging on, as on RDS; trust on, as the product asks of its operators (SPEC §1). The
  // RDS-like server in rds-like-mariadb.ts is the one that tests the trust=0 refusal.
  const [mysql, redis] = await Promise.all([
    new MySqlContainer('mysql:8.0')
      .withCommand([
        '--log-bin',
        '--log-bin-trust-function-creators=1',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
      ])
      .start(),
    new RedisContainer('redis:7').start(),
  ]);
  return {
    databaseUrl: mysql.getConnectionUri(true),
    redisUrl: redis.getConnectionUrl(),
    source: 'docker',
    stop: async () => {
      await Promise.allSettled([mysql.stop(), redis.stop()]);
    },
  };
}

async function checkServersAnswer(servers: TestServers): Promise<void> {
  const problems = (
    await Promise.all([checkMySql(servers.databaseUrl), checkRedis(servers.redisUrl)])
  ).filter((problem): problem is string => problem !== undefined);
  if (problems.length > 0) throw new Error(problems.join('\n\n'));
}

async function checkMySql(url: string): Promise<string | undefined> {
  const where = redactUrl(url);
  let connection;
  try {
    // Without the path's database: the tests ignore it, and it need not exist.
    connection = await createConnection({
      ...mysqlLogin(withDatabaseName(url, '')),
      connectTimeout: CONNECT_TIMEOUT_MS,
    });
  } catch (error) {
    return [
      `MySQL at ${where} (TEST_DATABASE_URL) does not answer: ${messageOf(error)}`,
      'Start it, for example with',
      '  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
      '(`bash .ci/run` does that), or point TEST_DATABASE_URL at a server that runs.',
    ].join('\n');
  }
  // Each test file creates its own database, so prove the account may do that now, not in
  // every file's beforeAll.
  const probe = `push_t_probe_${randomBytes(4).toString('hex')}`;
  try {
    await connection.query(`CREATE DATABASE \`${probe}\``);
    await connection.query(`DROP DATABASE \`${probe}\``);
    return undefined;
  } catch (error) {
    return `MySQL at ${where} answers, but its account cannot create and drop databases, which every test file does: ${messageOf(error)}`;
  } finally {
    await connection.end().catch(() => {});
  }
}

async function checkRedis(url: string): Promise<string | undefined> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis rejects connect() with a bare "Connection is closed."; the cause comes as an event.
  let connectionError: unknown;
  redis.on('error', (error: unknown) => (connectionError ??= error));
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return [
      `Redis at ${redactUrl(url)} (TEST_REDIS_URL) does not answer: ${messageOf(connectionError ?? error)}`,
      'Start it, for example with',
      '  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
      '(`bash .ci/run` does that), or point TEST_REDIS_URL at a server that runs.',
    ].join('\n');
  } finally {
    redis.disconnect();
  }
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(messageOf).join('; ');
  }
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}
