/** `push migrate [--down]`: applies (or reverts) the migrations on DATABASE_URL. */
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { redactUrl } from '../config.js';
import {
  assertDatabaseReachable,
  connectDatabase,
  databaseNameOf,
  describeDatabaseError,
} from '../db/connect-database.js';
import { migrationContextOf } from '../db/migration-context.js';
import { migrateLatest, migrateRollbackAll } from '../db/run-migrations.js';

export async function runMigrateCommand(config: Config, opts: { down?: boolean }): Promise<void> {
  const knex = await openDatabaseCreatingIt(config.databaseUrl);
  try {
    const ctx = migrationContextOf(config);
    const names = opts.down ? await migrateRollbackAll(knex, ctx) : await migrateLatest(knex, ctx);
    const where = redactUrl(config.databaseUrl);
    if (names.length === 0) {
      console.log(opts.down ? `nothing to revert on ${where}` : `${where} is up to date`);
    } else {
      console.log(`${opts.down ? 'reverted' : 'applied'} on ${where}:`);
      for (const name of names) console.log(`  ${name}`);
    }
  } finally {
    await knex.destroy();
  }
}

/**
 * Connects to DATABASE_URL, creating its database first when it does not exist and the
 * account may (a newcomer's local MySQL); otherwise fails saying what to do.
 */
export async function openDatabaseCreatingIt(databaseUrl: string): Promise<Knex> {
  const knex = connectDatabase(databaseUrl, 2);
  try {
    await assertDatabaseReachable(knex, databaseUrl);
    return knex;
  } catch (err) {
    await knex.destroy();
    const code = ((err as Error).cause as { code?: string } | undefined)?.code;
    if (code !== 'ER_BAD_DB_ERROR') throw err;
  }
  const serverUrl = new URL(databaseUrl);
  serverUrl.pathname = '/';
  const server = connectDatabase(serverUrl.toString(), 1);
  try {
    await server.raw(
      `CREATE DATABASE IF NOT EXISTS \`${databaseNameOf(databaseUrl)}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } catch (err) {
    throw describeDatabaseError(err, databaseUrl);
  } finally {
    await server.destroy();
  }
  const knex2 = connectDatabase(databaseUrl, 2);
  await assertDatabaseReachable(knex2, databaseUrl);
  return knex2;
}
