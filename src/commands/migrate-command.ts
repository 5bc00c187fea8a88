/**
 * `push migrate [--down [--force]] [--print-sql]`: applies (or reverts) the migrations on
 * DATABASE_URL and aligns push's tables and trigger with `orders`; with --print-sql, prints
 * the statements that would run, as a script for the mysql client (a DBA's change ticket),
 * and changes nothing.
 */
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { redactUrl } from '../config.js';
import {
  assertDatabaseReachable,
  connectDatabase,
  databaseNameOf,
  describeDatabaseError,
} from '../db/connect-database.js';
import { withDatabaseName } from '../db/database-url.js';
import { migrationContextOf } from '../db/migration-context.js';
import { MigrationError } from '../db/migration-error.js';
import { migrateRollbackAll, runMigrations } from '../db/run-migrations.js';
import { readerOf } from '../db/schema-session.js';
import { countUnfinishedEvents } from '../outbox/count-unfinished-events.js';

export interface MigrateCommandOptions {
  down?: boolean;
  force?: boolean;
  printSql?: boolean;
}

export async function runMigrateCommand(
  config: Config,
  opts: MigrateCommandOptions,
): Promise<void> {
  const knex = opts.printSql
    ? await openExistingDatabase(config.databaseUrl)
    : await openDatabaseCreatingIt(config.databaseUrl);
  const ctx = migrationContextOf(config);
  const lockWait = {
    lockWaitS: config.migrationLockWaitS,
    lockAttempts: config.migrationLockAttempts,
  };
  const where = redactUrl(config.databaseUrl);
  try {
    if (opts.printSql) {
      const direction = opts.down ? 'down' : 'up';
      const run = await runMigrations(knex, ctx, { ...lockWait, direction, printOnly: true });
      const unfinished = opts.down ? await countUnfinishedEvents(readerOf(knex)) : 0;
      console.log(
        sqlScript(where, lockWait, run, {
          direction,
          unfinished,
        }),
      );
      return;
    }
    if (opts.down) {
      const unfinished = opts.force ? await countUnfinishedEvents(readerOf(knex)) : 0;
      const names = await migrateRollbackAll(knex, ctx, { ...lockWait, force: opts.force });
      console.log(names.length === 0 ? `nothing to revert on ${where}` : `reverted on ${where}:`);
      for (const name of names) console.log(`  ${name}`);
      if (unfinished > 0) console.log(`dropped ${unfinished} unfinished event(s) (--force)`);
      return;
    }
    const run = await runMigrations(knex, ctx, { ...lockWait, direction: 'up' });
    const changes = run.statements.slice(1); // after the session's SET lock_wait_timeout
    if (run.names.length > 0) {
      console.log(`applied on ${where}:`);
      for (const name of run.names) console.log(`  ${name}`);
    }
    if (changes.length > 0) {
      console.log(`schema changes (each may wait ${lockWait.lockWaitS} s for its metadata lock):`);
      for (const sql of changes) console.log(`  ${firstLine(sql)}`);
    } else if (run.names.length === 0) {
      console.log(`${where} is up to date`);
    }
    if (run.problems.length > 0) throw new MigrationError(run.problems.join('\n\n'));
  } finally {
    await knex.destroy();
  }
}

/**
 * The statements as the mysql client takes them: `;` after each, DELIMITER around the
 * trigger (its body holds `;`), and what is not SQL as comments.
 */
function sqlScript(
  where: string,
  lockWait: { lockWaitS: number; lockAttempts: number },
  run: { names: string[]; statements: string[]; problems: string[] },
  about: { direction: 'up' | 'down'; unfinished: number },
): string {
  const verb = about.direction === 'up' ? 'apply' : 'revert';
  const lines = [
    `-- push migrate${about.direction === 'down' ? ' --down' : ''} --print-sql: what it would run now on ${where}`,
    `-- migrations to ${verb}: ${run.names.length > 0 ? run.names.join(', ') : 'none'}` +
      (run.names.length > 0
        ? ' (knex records them in push_migrations, creating it if missing)'
        : ''),
    `-- each statement waits at most ${lockWait.lockWaitS} s for its metadata lock, ` +
      `${lockWait.lockAttempts} times, then push gives up (MIGRATION_LOCK_WAIT_S, MIGRATION_LOCK_ATTEMPTS)`,
  ];
  if (about.unfinished > 0) {
    lines.push(
      `-- ${about.unfinished} unfinished event(s) in order_events would be dropped: push refuses without --force`,
    );
  }
  for (const sql of run.statements) {
    if (/\bBEGIN\b/.test(sql)) lines.push('DELIMITER ;;', `${sql};;`, 'DELIMITER ;');
    else lines.push(`${sql};`);
  }
  for (const problem of run.problems) {
    lines.push('-- left for a person (push migrate fails until it is done):');
    for (const line of problem.split('\n')) lines.push(`-- ${line}`);
  }
  return lines.join('\n');
}

function firstLine(sql: string): string {
  return sql.trim().split('\n')[0] ?? '';
}

async function openExistingDatabase(databaseUrl: string): Promise<Knex> {
  const knex = connectDatabase(databaseUrl, 2);
  try {
    await assertDatabaseReachable(knex, databaseUrl);
    return knex;
  } catch (err) {
    await knex.destroy();
    throw err;
  }
}

/**
 * Connects to DATABASE_URL, creating its database first when it does not exist and the
 * account may (a newcomer's local MySQL); otherwise fails saying what to do.
 */
export async function openDatabaseCreatingIt(databaseUrl: string): Promise<Knex> {
  try {
    return await openExistingDatabase(databaseUrl);
  } catch (err) {
    const code = ((err as Error).cause as { code?: string } | undefined)?.code;
    if (code !== 'ER_BAD_DB_ERROR') throw err;
  }
  const server = connectDatabase(withDatabaseName(databaseUrl, ''), 1);
  try {
    await server.raw(
      `CREATE DATABASE IF NOT EXISTS \`${databaseNameOf(databaseUrl)}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } catch (err) {
    throw describeDatabaseError(err, databaseUrl);
  } finally {
    await server.destroy();
  }
  return openExistingDatabase(databaseUrl);
}
