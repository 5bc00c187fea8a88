/**
 * Runs the knex migrations in `migrations/`. They are imported, not discovered on disk, so
 * the same code runs from the TypeScript sources (tests) and from `dist/` (production),
 * and each migration receives the configured table and column names.
 */
import type { Knex } from 'knex';
import * as orderEvents from '../../migrations/20261126_001_order_events.js';
import * as orderTriggers from '../../migrations/20261126_002_order_triggers.js';
import * as pushAttempts from '../../migrations/20261126_003_push_attempts.js';
import type { MigrationContext } from './migration-context.js';

interface Migration {
  up(knex: Knex, ctx: MigrationContext): Promise<void>;
  down(knex: Knex, ctx: MigrationContext): Promise<void>;
}

const MIGRATIONS: ReadonlyArray<[name: string, migration: Migration]> = [
  ['20261126_001_order_events', orderEvents],
  ['20261126_002_order_triggers', orderTriggers],
  ['20261126_003_push_attempts', pushAttempts],
];

function migrationConfig(ctx: MigrationContext): Knex.MigratorConfig {
  return {
    tableName: 'push_migrations',
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
          up: (knex: Knex) => migration.up(knex, ctx),
          down: (knex: Knex) => migration.down(knex, ctx),
        };
      },
    },
  };
}

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function migrateLatest(knex: Knex, ctx: MigrationContext): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest(migrationConfig(ctx))) as [number, string[]];
  return applied;
}

/** Reverts every migration (the outbox table and the trigger). */
export async function migrateRollbackAll(knex: Knex, ctx: MigrationContext): Promise<string[]> {
  const [, reverted] = (await knex.migrate.rollback(migrationConfig(ctx), true)) as [
    number,
    string[],
  ];
  return reverted;
}
