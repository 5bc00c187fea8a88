/**
 * Runs the knex migrations in `migrations/`. They are imported, not discovered on disk, so
 * the same code runs from the TypeScript sources (tests) and from `dist/` (production),
 * and each migration receives the configured table and column names.
 *
 * Every schema change goes through one SchemaSession (bounded lock waits; or, for
 * `--print-sql`, recorded instead of run), and after the migrations, even when none was
 * pending, push's tables and trigger are aligned with `orders` as it is now.
 */
import type { Knex } from 'knex';
import * as orderEvents from '../../migrations/20261126_001_order_events.js';
import * as orderTriggers from '../../migrations/20261126_002_order_triggers.js';
import * as pushAttempts from '../../migrations/20261126_003_push_attempts.js';
import * as pushOutcomes from '../../migrations/20261201_101_push_outcomes.js';
import * as outboxFollowsOrders from '../../migrations/20261201_201_outbox_follows_orders.js';
import { countUnfinishedEvents } from '../outbox/count-unfinished-events.js';
import { alignWithOrders } from './align-with-orders.js';
import type { MigrationContext } from './migration-context.js';
import { MigrationError } from './migration-error.js';
import {
  DEFAULT_LOCK_WAIT,
  openSchemaSession,
  readerOf,
  type LockWaitSettings,
  type SchemaSession,
} from './schema-session.js';

interface Migration {
  up(db: SchemaSession, ctx: MigrationContext): Promise<void>;
  down(db: SchemaSession, ctx: MigrationContext): Promise<void>;
}

const MIGRATIONS: ReadonlyArray<[name: string, migration: Migration]> = [
  ['20261126_001_order_events', orderEvents],
  ['20261126_002_order_triggers', orderTriggers],
  ['20261126_003_push_attempts', pushAttempts],
  ['20261201_101_push_outcomes', pushOutcomes],
  ['20261201_201_outbox_follows_orders', outboxFollowsOrders],
];

const MIGRATIONS_TABLE = 'push_migrations';

export interface MigrateRun {
  /** Migrations applied (up) or reverted (down); for --print-sql, those that would be. */
  names: string[];
  /** Every schema change, in order, as sent to the server (or, printing, as it would be). */
  statements: string[];
  /** What is left for a person (a widening only a table copy can make); empty when none. */
  problems: string[];
}

export interface MigrateOptions extends Partial<LockWaitSettings> {
  direction?: 'up' | 'down';
  /** --print-sql: run the reads, record the changes, change nothing. */
  printOnly?: boolean;
}

function migrationConfig(ctx: MigrationContext, db: SchemaSession): Knex.MigratorConfig {
  return {
    tableName: MIGRATIONS_TABLE,
    // MySQL commits DDL implicitly; a transaction around CREATE TRIGGER buys nothing.
    disableTransactions: true,
    migrationSource: {
      getMigrations: async () => MIGRATIONS.map(([name]) => name),
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => {
        const found = MIGRATIONS.find(([n]) => n === name);
        if (!found) throw new Error(`unknown migration ${name}`);
        const [, migration] = found;
        return {
          up: () => migration.up(db, ctx),
          down: () => migration.down(db, ctx),
        };
      },
    },
  };
}

/** Migrates up or down, or (printOnly) says what that would run. */
export async function runMigrations(
  knex: Knex,
  ctx: MigrationContext,
  options: MigrateOptions = {},
): Promise<MigrateRun> {
  const direction = options.direction ?? 'up';
  const { session, statements, close } = await openSchemaSession(knex, {
    lockWaitS: options.lockWaitS ?? DEFAULT_LOCK_WAIT.lockWaitS,
    lockAttempts: options.lockAttempts ?? DEFAULT_LOCK_WAIT.lockAttempts,
    printOnly: options.printOnly,
  });
  try {
    const names = options.printOnly
      ? await printMigrations(session, ctx, direction)
      : await applyMigrations(knex, ctx, session, direction);
    const problems = direction === 'up' ? await alignWithOrders(session, ctx) : [];
    return { names, statements, problems };
  } finally {
    await close();
  }
}

async function applyMigrations(
  knex: Knex,
  ctx: MigrationContext,
  db: SchemaSession,
  direction: 'up' | 'down',
): Promise<string[]> {
  const config = migrationConfig(ctx, db);
  const [, names] = (
    direction === 'up'
      ? await knex.migrate.latest(config)
      : await knex.migrate.rollback(config, true)
  ) as [number, string[]];
  return names;
}

/** What knex would run: the pending migrations in order (up), the applied ones in reverse (down). */
async function printMigrations(
  db: SchemaSession,
  ctx: MigrationContext,
  direction: 'up' | 'down',
): Promise<string[]> {
  const applied = new Set(await appliedMigrations(db));
  const chosen =
    direction === 'up'
      ? MIGRATIONS.filter(([name]) => !applied.has(name))
      : MIGRATIONS.filter(([name]) => applied.has(name)).reverse();
  for (const [, migration] of chosen) await migration[direction](db, ctx);
  return chosen.map(([name]) => name);
}

async function appliedMigrations(db: SchemaSession): Promise<string[]> {
  try {
    const rows = await db.read<{ name: string }>(`SELECT name FROM \`${MIGRATIONS_TABLE}\``);
    return rows.map((row) => row.name);
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return [];
    throw err;
  }
}

/**
 * Applies every pending migration and aligns with `orders`; returns the names applied (empty
 * when up to date). Fails when something is left for a person (MigrationError).
 */
export async function migrateLatest(
  knex: Knex,
  ctx: MigrationContext,
  options: Partial<LockWaitSettings> = {},
): Promise<string[]> {
  const run = await runMigrations(knex, ctx, { ...options, direction: 'up' });
  if (run.problems.length > 0) throw new MigrationError(run.problems.join('\n\n'));
  return run.names;
}

/**
 * Reverts every migration (the outbox table and the trigger). Refuses while events are
 * unfinished, since their rows would go with the table, unless `force`.
 */
export async function migrateRollbackAll(
  knex: Knex,
  ctx: MigrationContext,
  options: Partial<LockWaitSettings> & { force?: boolean } = {},
): Promise<string[]> {
  const unfinished = await countUnfinishedEvents(readerOf(knex));
  if (unfinished > 0 && !options.force) throw unfinishedEventsError(unfinished);
  return (await runMigrations(knex, ctx, { ...options, direction: 'down' })).names;
}

export function unfinishedEventsError(unfinished: number): MigrationError {
  return new MigrationError(
    `refusing to remove push: ${unfinished} event(s) in order_events are not finished (not yet ` +
      'handed off, or with pushes not yet delivered or dead-lettered), and --down drops the ' +
      'tables with them. ' +
      'Let push start drain them (`npx push doctor` shows the backlog), or run ' +
      '`push migrate --down --force` to drop them anyway.',
  );
}
