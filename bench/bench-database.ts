/**
 * The benchmark's own database on a server: the order service's tables (as the demo makes
 * them), push's migrations, and orders made to order. Dropped at the end.
 *
 * Orders come in four kinds, by position, each with one push-worthy change, so every
 * measurement delivers the same mix of pushes (one push per event):
 *   AWAITING_SERVICE → IN_SERVICE        SERVICE_STARTED    patient, wechat, link
 *   IN_SERVICE → SERVICE_DONE            SERVICE_COMPLETED  patient, wechat
 *   PAYING → AWAITING_ACCEPT (no nurse)  PAYMENT_SUCCEEDED  nurse pool, app
 *   AWAITING_ACCEPT → AWAITING_SERVICE   NURSE_ACCEPTED     patient, wechat, link, nurse's name
 */
import type { Knex } from 'knex';
import { connectDatabase } from '../src/db/connect-database.js';
import { migrateLatest } from '../src/db/run-migrations.js';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../src/db/migration-context.js';
import {
  createOrderServiceTables,
  insertSampleNurses,
  SAMPLE_NURSES,
} from '../src/demo/order-service-schema.js';
import { planCopiedColumns } from '../src/db/copied-columns.js';
import { TRIGGER_NAME, triggerSql } from '../src/db/order-trigger.js';
import { readerOf } from '../src/db/schema-session.js';
import {
  appUrlOf,
  createAppAccountSql,
  dropAppAccountSql,
  newAppAccount,
} from '../test/support/app-account.js';

export interface BenchDatabase {
  name: string;
  /** mysql://root@…/<name>: the order service's load and the benchmark's own setup. */
  url: string;
  /**
   * The product's DATABASE_URL: a passworded least-privilege account with exactly the
   * README's grants on this database (test/support/app-account.ts, the tests' one owner).
   */
  appUrl: string;
  knex: Knex;
  drop(): Promise<void>;
}

export const CONTEXT = migrationContextOf({
  ordersTable: 'orders',
  orderColumns: DEFAULT_ORDER_COLUMNS,
});

const INITIAL_STATUSES = ['AWAITING_SERVICE', 'IN_SERVICE', 'PAYING', 'AWAITING_ACCEPT'] as const;

/** The one push-worthy change of each kind of order; the same statement for any id range. */
export const PUSH_WORTHY_CHANGE = `status = CASE status
    WHEN 'AWAITING_SERVICE' THEN 'IN_SERVICE'
    WHEN 'IN_SERVICE' THEN 'SERVICE_DONE'
    WHEN 'PAYING' THEN 'AWAITING_ACCEPT'
    WHEN 'AWAITING_ACCEPT' THEN 'AWAITING_SERVICE'
    ELSE status END`;

export async function createBenchDatabase(serverUrl: string, name: string): Promise<BenchDatabase> {
  const admin = connectDatabase(serverUrl, 1);
  const account = newAppAccount();
  try {
    await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    for (const sql of createAppAccountSql(account, name)) await admin.raw(sql);
  } finally {
    await admin.destroy();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const knex = connectDatabase(url.toString(), 4);
  await createOrderServiceTables(knex);
  await insertSampleNurses(knex);
  await migrateLatest(knex, CONTEXT);
  return {
    name,
    url: url.toString(),
    appUrl: appUrlOf(serverUrl, account, name),
    knex,
    async drop() {
      await knex.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      await knex.raw(dropAppAccountSql(account));
      await knex.destroy();
    },
  };
}

/** Installs or removes push's trigger on orders (the trigger-cost comparison). */
export async function setTrigger(knex: Knex, on: boolean): Promise<void> {
  await knex.raw(`DROP TRIGGER IF EXISTS \`${TRIGGER_NAME}\``);
  if (on) await knex.raw(await pushTriggerSql(knex));
}

/** push's CREATE TRIGGER for this database, as `push migrate` makes it. */
export async function pushTriggerSql(knex: Knex): Promise<string> {
  const { clip } = await planCopiedColumns(readerOf(knex), CONTEXT);
  return triggerSql(CONTEXT, clip);
}

/** Inserts `count` orders of the four kinds (inserts fire no trigger); returns their id range. */
export async function insertOrders(
  knex: Knex,
  count: number,
): Promise<{ firstId: number; lastId: number }> {
  const [[before]] = (await knex.raw('SELECT COALESCE(MAX(id), 0) AS maxId FROM orders')) as [
    [{ maxId: string | number }],
  ];
  const firstId = Number(before.maxId) + 1;
  const chunk = 1_000;
  for (let start = 0; start < count; start += chunk) {
    const rows = [];
    for (let i = start; i < Math.min(start + chunk, count); i++) {
      const id = firstId + i;
      const kind = id % 4;
      rows.push({
        id,
        patient_id: 100_000 + id,
        nurse_id: kind === 2 ? null : SAMPLE_NURSES[id % SAMPLE_NURSES.length]!.id,
        status: INITIAL_STATUSES[kind]!,
        status_reason: null,
      });
    }
    await knex('orders').insert(rows);
  }
  return { firstId, lastId: firstId + count - 1 };
}

/** Makes one push-worthy change to every order in [firstId, lastId], `perStatement` rows at a time. */
export async function changeOrders(
  knex: Knex,
  firstId: number,
  lastId: number,
  perStatement = 500,
): Promise<void> {
  for (let from = firstId; from <= lastId; from += perStatement) {
    await knex.raw(`UPDATE orders SET ${PUSH_WORTHY_CHANGE} WHERE id BETWEEN ? AND ?`, [
      from,
      Math.min(from + perStatement - 1, lastId),
    ]);
  }
}

/** Empties the outbox, the delivery trace and the outcomes between runs (DELETE keeps the id counter). */
export async function clearPushTables(knex: Knex): Promise<void> {
  await knex.raw(`DELETE FROM ${CONTEXT.outboxTable}`);
  await knex.raw(`DELETE FROM ${CONTEXT.attemptsTable}`);
  await knex.raw(`DELETE FROM ${CONTEXT.outcomesTable}`);
}
