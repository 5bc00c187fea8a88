// Replacing the trigger while the order service writes: 8 connections update orders as fast as
// the server answers, each change giving its order a status no other change gives it, while
// push replaces the trigger several times (through installTrigger, what `push migrate` runs).
// Every change must have exactly one event: none lost in a gap between DROP and CREATE, none
// doubled by two triggers at once. Both ways push replaces it run on the server at hand:
// its own (MariaDB: CREATE OR REPLACE TRIGGER; MySQL 8: LOCK TABLES … DROP … CREATE … UNLOCK)
// and MySQL 8's, LOCK TABLES, which MariaDB supports too.
import type { Connection } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../../src/db/migration-context.js';
import {
  installTrigger,
  readInstalledTrigger,
  replaceUnderLockTables,
  triggerSql,
  TRIGGER_NAME,
} from '../../src/db/order-trigger.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { openSchemaSession, readerOf, type SchemaSession } from '../../src/db/schema-session.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { orderServiceConnection } from '../support/order-service-session.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const ctx = migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS });
const WRITERS = 8;
const ORDERS_PER_WRITER = 25;
const REPLACEMENTS = 6;

let db: TestDatabase;
const connections: Connection[] = [];

beforeEach(async () => {
  db = await createTestDatabase('trigger-replace');
  await createOrderServiceTables(db.knex);
  await migrateLatest(db.knex, ctx);
  await db.knex('orders').insert(
    Array.from({ length: WRITERS * ORDERS_PER_WRITER }, (_, i) => ({
      id: i + 1,
      patient_id: 100 + i,
      status: 'PAYING',
    })),
  );
});

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.end().catch(() => {})));
  await db.drop();
});

interface Change {
  orderId: number;
  status: string;
}

/** Writer `w` updates its own orders round-robin, each time to a status never used before. */
async function startWriters(): Promise<{ stop(): Promise<Change[]> }> {
  let running = true;
  const writers = await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const connection = await orderServiceConnection(db.url);
      connections.push(connection);
      const changes: Change[] = [];
      const done = (async () => {
        for (let n = 0; running; n++) {
          const orderId = 1 + w * ORDERS_PER_WRITER + (n % ORDERS_PER_WRITER);
          const status = `W${w}_${n}`;
          await connection.query('UPDATE orders SET status = ? WHERE id = ?', [status, orderId]);
          changes.push({ orderId, status });
        }
      })();
      return { changes, done };
    }),
  );
  return {
    async stop() {
      running = false;
      await Promise.all(writers.map((w) => w.done));
      return writers.flatMap((w) => w.changes);
    },
  };
}

/**
 * Replaces the trigger `times` times, alternating two definitions that record the same thing
 * (cutting statuses at 64 or 63 characters; these are shorter), so each call must replace it.
 */
async function replaceRepeatedly(
  times: number,
  flavor: SchemaSession['flavor'] | 'as the server is',
): Promise<void> {
  const { session, close } = await openSchemaSession(db.knex, { lockWaitS: 10, lockAttempts: 1 });
  const db2 = flavor === 'as the server is' ? session : { ...session, flavor };
  try {
    for (let i = 0; i < times; i++) {
      const chars = i % 2 === 0 ? 63 : 64;
      await installTrigger(db2, ctx, { status: chars, reason: chars });
      // Let the writers run between replacements, so each replacement meets writes in flight.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await close();
  }
}

async function recordedChanges(): Promise<Map<string, number>> {
  const [rows] = (await db.knex.raw(
    'SELECT CAST(order_id AS CHAR) AS orderId, to_status AS status, COUNT(*) AS n FROM order_events GROUP BY order_id, to_status',
  )) as [{ orderId: string; status: string; n: number | string }[]];
  return new Map(rows.map((r) => [`${r.orderId} ${r.status}`, Number(r.n)]));
}

function expectEachChangeOnce(changes: Change[], recorded: Map<string, number>): void {
  const missing = changes.filter((c) => !recorded.has(`${c.orderId} ${c.status}`));
  const doubled = [...recorded].filter(([, n]) => n !== 1);
  expect({ missing: missing.length, doubled: doubled.length }).toEqual({ missing: 0, doubled: 0 });
  expect(recorded.size).toBe(changes.length);
}

describe('replacing the trigger under 8 connections of order writes', () => {
  it.each([
    ["the server's own (MariaDB: CREATE OR REPLACE TRIGGER)", 'as the server is'],
    ['LOCK TABLES orders WRITE, order_events WRITE; DROP; CREATE; UNLOCK (MySQL 8)', 'MySQL'],
  ] as const)('records every change exactly once: %s', async (_way, flavor) => {
    const writers = await startWriters();
    await new Promise((resolve) => setTimeout(resolve, 200)); // writes in full flow first

    await replaceRepeatedly(REPLACEMENTS, flavor);
    const changes = await writers.stop();

    expect(changes.length).toBeGreaterThan(REPLACEMENTS * WRITERS);
    expectEachChangeOnce(changes, await recordedChanges());
    const installed = await readInstalledTrigger(readerOf(db.knex));
    expect(installed?.body).toContain('> 64'); // the last replacement's
  });

  it('puts the old trigger back when the new one is refused under LOCK TABLES', async () => {
    const { session, close } = await openSchemaSession(db.knex, { lockWaitS: 10, lockAttempts: 1 });
    const before = await readInstalledTrigger(session.read);
    try {
      const broken = triggerSql(ctx, { status: 64, reason: 64 }).replace('END IF;', 'END IFF;');
      const failure = await replaceUnderLockTables(session, ctx, before!, broken).catch(
        (err: unknown) => err,
      );
      expect((failure as { code?: string }).code).toBe('ER_PARSE_ERROR');
    } finally {
      await close();
    }

    expect(await readInstalledTrigger(readerOf(db.knex))).toEqual(before);
    // Unlocked, and recording: an order change goes through and is recorded once.
    await db.knex('orders').where({ id: 1 }).update({ status: 'AFTER_REFUSAL' });
    expect((await recordedChanges()).get('1 AFTER_REFUSAL')).toBe(1);
    const [[row]] = (await db.knex.raw(
      'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?',
      [TRIGGER_NAME],
    )) as [[{ n: number | string }]];
    expect(Number(row.n)).toBe(1);
  });
});
