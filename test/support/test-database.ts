// Isolation for tests that share one MySQL server and one Redis: every test file gets its own
// database, its own application account and its own BullMQ key prefix, with random suffixes so
// that parallel files, parallel runs and leftovers of killed runs never meet. When the server URL
// asks for TLS (?ssl-mode=…, as in the CI workflow), every account is created REQUIRE SSL and
// every URL keeps the parameters, so a connection that forgot TLS is refused, not unnoticed.
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { inject } from 'vitest';
import { assertRedisReachable, connectRedis } from '../../src/redis/redis-connection.js';
import { singleNodeRedis, type RedisSettings } from '../../src/redis/redis-settings.js';
import { unlinkKeys } from '../../src/redis/unlink-keys.js';
import {
  appUrlOf,
  createAppAccountSql,
  dropAppAccountSql,
  newAppAccount,
  type AppAccount,
} from './app-account.js';
import { mysqlLogin, usesTls } from './mysql-login.js';

export interface TestDatabase {
  /** `push_t_<label>_<random>` */
  name: string;
  /**
   * DATABASE_URL for the product: this database, logged in as its own least-privilege account
   * with a percent-encoded password (app-account.ts). Every product connection uses it.
   */
  url: string;
  account: AppAccount;
  /** The same account: what the order service or the product would open. */
  knex: Knex;
  /**
   * Root on this database, for what an application account may not do (SET GLOBAL, KILL
   * another account's session, reading every session's locks). Say why where you use it.
   */
  adminUrl: string;
  /** Destroys `knex`, drops the database and the account. */
  drop(): Promise<void>;
}

/** The MySQL server chosen by the global setup (its path's database is not used). */
export function testServerUrl(): string {
  return inject('testDatabaseUrl');
}

export function testRedisUrl(): string {
  return inject('testRedisUrl');
}

/**
 * Creates a fresh, empty utf8mb4 database for one test file (or test), on the shared test server
 * or on `serverUrl` (root on a private server the test started; its path is ignored).
 */
export async function createTestDatabase(
  label: string,
  { serverUrl = testServerUrl() }: { serverUrl?: string } = {},
): Promise<TestDatabase> {
  // MySQL names are at most 64 characters: 7 prefix + label + 1 + 8 random.
  const name = `push_t_${safeLabel(label, '_').slice(0, 40)}_${randomSuffix()}`;
  const account = newAppAccount();
  await withServerConnection(serverUrl, async (admin) => {
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    const requireTls = usesTls(serverUrl);
    for (const statement of createAppAccountSql(account, name, { requireTls })) {
      await admin.raw(statement);
    }
  });
  const url = appUrlOf(serverUrl, account, name);
  const knex = knexFactory({
    client: 'mysql2',
    connection: mysqlLogin(url) as Knex.MySql2ConnectionConfig,
    pool: { min: 0, max: 4 },
  });
  let dropped = false;
  return {
    name,
    url,
    account,
    knex,
    adminUrl: withDatabase(serverUrl, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      await knex.destroy();
      await withServerConnection(serverUrl, async (admin) => {
        await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
        await admin.raw(dropAppAccountSql(account));
      });
    },
  };
}

/** A BullMQ key prefix no other test or run uses: `push-test-<label>-<random>`. */
export function testQueuePrefix(label: string): string {
  return `push-test-${safeLabel(label, '-').slice(0, 40)}-${randomSuffix()}`;
}

/**
 * Removes every Redis key under a BullMQ prefix (`<prefix>:*`), on a plain REDIS_URL or any
 * topology the product's settings describe; returns how many went.
 */
export async function deleteQueueKeys(
  redis: string | RedisSettings,
  prefix: string,
): Promise<number> {
  const settings = typeof redis === 'string' ? singleNodeRedis(redis) : redis;
  const client = connectRedis(settings, 'fail-fast');
  try {
    // A cluster client knows its masters once it is ready.
    await assertRedisReachable(client, settings);
    return await unlinkKeys(client, prefix);
  } finally {
    client.disconnect();
  }
}

async function withServerConnection<T>(
  serverUrl: string,
  work: (admin: Knex) => Promise<T>,
): Promise<T> {
  const admin = knexFactory({
    client: 'mysql2',
    connection: mysqlLogin(withDatabase(serverUrl, '')) as Knex.MySql2ConnectionConfig,
    pool: { min: 0, max: 1 },
  });
  try {
    return await work(admin);
  } finally {
    await admin.destroy();
  }
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = database === '' ? '' : `/${database}`;
  return url.toString();
}

function safeLabel(label: string, separator: '_' | '-'): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, separator)
    .replace(new RegExp(`^\\${separator}+|\\${separator}+$`, 'g'), '');
}

function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}
