// The migrations against a real MariaDB/MySQL, one fresh database per test: what they create,
// that they are idempotent and reversible, how they fail on an orders table that is not what
// SPEC §2 describes, and that the poller's two queries read through the indexes the outbox
// migration creates for them (EXPLAIN / ANALYZE of the exact SQL src/outbox/ sends).
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { TRIGGER_NAME, triggerSql } from '../../src/db/order-trigger.js';
import { loadConfig } from '../../src/config.js';
import {
  ATTEMPTS_TABLE,
  DEFAULT_ORDER_COLUMNS,
  migrationContextOf,
  OUTBOX_TABLE,
  type MigrationContext,
} from '../../src/db/migration-context.js';
import { migrateLatest, migrateRollbackAll } from '../../src/db/run-migrations.js';
import { MigrationError } from '../../src/db/migration-error.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { CLAIM_SQL, WAITING_HEAD_SQL } from '../../src/outbox/claim-batch.js';
import { firstUnclaimedSql } from '../../src/outbox/defer-out-of-order.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const ctx: MigrationContext = migrationContextOf({
  ordersTable: 'orders',
  orderColumns: DEFAULT_ORDER_COLUMNS,
});

let db: TestDatabase;
let knex: Knex;

beforeEach(async () => {
  db = await createTestDatabase('migrations');
  knex = db.knex;
});

afterEach(async (context: TestContext) => {
  if (context.task.result?.state === 'fail') {
    // Left for inspection, as a failing test's evidence; the random suffix keeps it apart.
    console.warn(`[migrations.test] kept database ${db.name} of a failing test`);
    await knex.destroy();
    return;
  }
  await db.drop();
});

describe('push migrate', () => {
  it('creates the order_events outbox and the trigger on orders', async () => {
    await createOrderServiceTables(knex);

    const applied = await migrateLatest(knex, ctx);

    expect(applied).toEqual(
      expect.arrayContaining(['20261126_001_order_events', '20261126_002_order_triggers']),
    );
    expect(await tablesOf(knex)).toEqual(expect.arrayContaining([OUTBOX_TABLE]));
    expect(await triggersOf(knex)).toEqual([
      { name: TRIGGER_NAME, table: 'orders', timing: 'AFTER', event: 'UPDATE' },
    ]);
    expect(await indexesOf(knex, OUTBOX_TABLE)).toEqual({
      PRIMARY: ['id'],
      order_events_claim: ['handed_off_at', 'id'],
      order_events_by_order: ['order_id', 'id'],
    });
  });

  it('records one event per row a multi-row UPDATE changes, and none for other columns', async () => {
    await createOrderServiceTables(knex);
    await migrateLatest(knex, ctx);
    const ids = await insertOrders(knex, 3, 'PENDING_PAYMENT');

    await knex('orders').whereIn('id', ids).update({ status: 'PAYING' });
    await knex('orders').whereIn('id', ids).update({ note: 'only the note changes' });

    const events = await knex(OUTBOX_TABLE)
      .orderBy('id')
      .select('order_id', 'from_status', 'to_status');
    expect(events.map((e: { order_id: number | string }) => Number(e.order_id))).toEqual(ids);
    expect(
      events.every(
        (e: { from_status: string; to_status: string }) =>
          e.from_status === 'PENDING_PAYMENT' && e.to_status === 'PAYING',
      ),
    ).toBe(true);
  });

  it('is a no-op when run again: nothing applied, one trigger, the outbox and its rows kept', async () => {
    await createOrderServiceTables(knex);
    await migrateLatest(knex, ctx);
    const [orderId] = await insertOrders(knex, 1, 'PENDING_PAYMENT');
    await knex('orders').where({ id: orderId }).update({ status: 'PAYING' });
    const tableBefore = await showCreateTable(knex, OUTBOX_TABLE);

    expect(await migrateLatest(knex, ctx)).toEqual([]);

    expect(await showCreateTable(knex, OUTBOX_TABLE)).toBe(tableBefore);
    expect(await triggersOf(knex)).toHaveLength(1);
    expect(await countEvents(knex)).toBe(1);
    // Still exactly one event per change: the trigger was not doubled.
    await knex('orders').where({ id: orderId }).update({ status: 'CANCELLED' });
    expect(await countEvents(knex)).toBe(2);
  });

  it("re-running the migrations' up steps over an existing outbox keeps its rows", async () => {
    // What happens when push_migrations was lost (a restored dump, a DBA's cleanup): every
    // step runs again and must not fail or drop data.
    await createOrderServiceTables(knex);
    await migrateLatest(knex, ctx);
    const [orderId] = await insertOrders(knex, 1, 'PENDING_PAYMENT');
    await knex('orders').where({ id: orderId }).update({ status: 'PAYING' });
    await knex.schema.dropTable('push_migrations');

    expect(await migrateLatest(knex, ctx)).toEqual(
      expect.arrayContaining(['20261126_001_order_events', '20261126_002_order_triggers']),
    );
    expect(await countEvents(knex)).toBe(1);
    expect(await triggersOf(knex)).toHaveLength(1);
  });

  it('is reversible: rollback removes the outbox and the trigger, and migrating again works', async () => {
    await createOrderServiceTables(knex);
    await migrateLatest(knex, ctx);
    const [orderId] = await insertOrders(knex, 1, 'PENDING_PAYMENT');

    const reverted = await migrateRollbackAll(knex, ctx);

    expect(reverted).toEqual(
      expect.arrayContaining(['20261126_001_order_events', '20261126_002_order_triggers']),
    );
    expect(await tablesOf(knex)).not.toEqual(expect.arrayContaining([OUTBOX_TABLE]));
    expect(await tablesOf(knex)).not.toEqual(expect.arrayContaining([ATTEMPTS_TABLE]));
    expect(await triggersOf(knex)).toEqual([]);
    // The order service keeps working: no trigger is left pointing at a missing table.
    await knex('orders').where({ id: orderId }).update({ status: 'PAYING' });

    expect(await migrateLatest(knex, ctx)).toEqual(
      expect.arrayContaining(['20261126_001_order_events', '20261126_002_order_triggers']),
    );
    await knex('orders').where({ id: orderId }).update({ status: 'CANCELLED' });
    expect(await knex(OUTBOX_TABLE).select('from_status', 'to_status')).toEqual([
      { from_status: 'PAYING', to_status: 'CANCELLED' },
    ]);
  });

  it('sends the trigger as one statement without a DEFINER clause, so it runs as the migrating account', async () => {
    const sql = triggerSql(ctx, { status: 64, reason: 64 }).trim();
    expect(sql).not.toMatch(/DEFINER/i);
    expect(sql).not.toMatch(/DELIMITER/i);
    // One CREATE TRIGGER whose body is a single BEGIN … END: nothing before or after it.
    expect(sql).toMatch(
      /^CREATE TRIGGER `push_order_events_after_update` AFTER UPDATE ON `orders` FOR EACH ROW\s+BEGIN\b/,
    );
    expect(sql).toMatch(/\bEND$/);
    expect(sql.match(/\bCREATE\b/g)).toHaveLength(1);

    // And the server agrees: the connection does not allow multi-statement SQL, so the
    // migration only succeeds if it is one statement; its definer is whoever ran it.
    await createOrderServiceTables(knex);
    await migrateLatest(knex, ctx);
    const [[{ definer, me }]] = (await knex.raw(
      `SELECT DEFINER AS definer, CURRENT_USER() AS me FROM information_schema.TRIGGERS
        WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?`,
      [TRIGGER_NAME],
    )) as [[{ definer: string; me: string }]];
    expect(definer).toBe(me);
  });

  it('fails naming status_reason when the orders table has no such column, and adds no trigger', async () => {
    await knex.raw(`
      CREATE TABLE orders (
        id         BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
        patient_id BIGINT UNSIGNED NOT NULL,
        nurse_id   BIGINT UNSIGNED NULL,
        status     VARCHAR(32) NOT NULL
      )`);

    const failure = await migrateLatest(knex, ctx).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toContain('`status_reason`');
    expect((failure as Error).message).toContain('`orders`');
    expect(await triggersOf(knex)).toEqual([]);
  });

  it('fails naming the orders table when it does not exist', async () => {
    const failure = await migrateLatest(knex, ctx).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toMatch(/table `orders` does not exist/);
    expect((failure as Error).message).toContain('ORDERS_TABLE');
  });

  it('follows ORDERS_TABLE and ORDER_COLUMNS to an order service with other names', async () => {
    const config = loadConfig({
      ORDERS_TABLE: 'bookings',
      ORDER_COLUMNS:
        'id=booking_id,patient_id=client_id,nurse_id=carer_id,status=state,status_reason=state_reason',
    });
    await knex.raw(`
      CREATE TABLE bookings (
        booking_id   BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
        client_id    BIGINT UNSIGNED NOT NULL,
        carer_id     BIGINT UNSIGNED NULL,
        state        VARCHAR(32) NOT NULL,
        state_reason VARCHAR(32) NULL
      )`);
    await migrateLatest(knex, migrationContextOf(config));
    const [bookingId] = (await knex('bookings').insert({
      client_id: 98,
      carer_id: 7,
      state: 'PENDING_PAYMENT',
    })) as number[];

    await knex('bookings')
      .where({ booking_id: bookingId })
      .update({ state: 'CANCELLED', state_reason: 'PAYMENT_TIMEOUT' });

    expect(
      await knex(OUTBOX_TABLE).select(
        'order_id',
        'patient_id',
        'nurse_id',
        'from_status',
        'to_status',
        'from_reason',
        'to_reason',
      ),
    ).toEqual([
      {
        order_id: bookingId,
        patient_id: 98,
        nurse_id: 7,
        from_status: 'PENDING_PAYMENT',
        to_status: 'CANCELLED',
        from_reason: null,
        to_reason: 'PAYMENT_TIMEOUT',
      },
    ]);
    expect(await triggersOf(knex)).toEqual([
      { name: TRIGGER_NAME, table: 'bookings', timing: 'AFTER', event: 'UPDATE' },
    ]);
  });
});

describe("the poller's queries on a large, mostly handed-off outbox", () => {
  const HANDED_OFF = 5_000;
  const BATCH = 50;

  /**
   * Fills the outbox as a live one looks once InnoDB's purge has caught up: HANDED_OFF rows
   * stamped in batches of BATCH (as the poller stamps them), then `unclaimed` newer rows.
   *
   * The rows are written already stamped on purpose. Right after one big
   * `UPDATE … SET handed_off_at`, order_events_claim still holds a delete-marked NULL entry
   * for every stamped row until purge removes it (a second or so), and MariaDB 10.11 counts
   * those entries in its estimate: it then thinks nearly every row is unclaimed, picks a
   * PRIMARY scan for `ORDER BY id LIMIT 50`, and reads ~5,000 rows (observed: r_rows 4950)
   * instead of 50. A steady outbox does not stay in that state, so the test does not either.
   */
  async function fillOutbox(unclaimed: number, orders: number): Promise<void> {
    await createOrderServiceTables(knex);
    await migrateLatest(knex, ctx);
    const stampedFrom = Date.parse('2026-01-01T00:00:00Z');
    const rows = [
      ...Array.from({ length: HANDED_OFF }, (_, i) => ({
        order_id: 1 + (i % orders),
        patient_id: 98,
        from_status: 'AWAITING_SERVICE',
        to_status: 'IN_SERVICE',
        handed_off_at: new Date(stampedFrom + Math.floor(i / BATCH) * 1_000),
      })),
      ...Array.from({ length: unclaimed }, (_, i) => ({
        order_id: 1 + (i % orders),
        patient_id: 98,
        from_status: 'IN_SERVICE',
        to_status: 'SERVICE_DONE',
        handed_off_at: null,
      })),
    ];
    for (let i = 0; i < rows.length; i += 1_000) {
      await knex(OUTBOX_TABLE).insert(rows.slice(i, i + 1_000));
    }
    await knex.raw(`ANALYZE TABLE ${OUTBOX_TABLE}`);
  }

  /** The defer query's SQL and bindings for the batch CLAIM_SQL would claim now, as the poller sends them. */
  async function deferQueryForNextBatch(): Promise<{ sql: string; bindings: string[] }> {
    const [batch] = (await knex.raw(
      `SELECT id, order_id FROM ${OUTBOX_TABLE} WHERE handed_off_at IS NULL ORDER BY id LIMIT ?`,
      [BATCH],
    )) as [{ id: number | string; order_id: number | string }[]];
    const orderIds = [...new Set(batch.map((row) => String(row.order_id)))];
    const eventIds = batch.map((row) => String(row.id));
    return {
      sql: firstUnclaimedSql(orderIds.length, eventIds.length),
      bindings: [...orderIds, ...eventIds],
    };
  }

  it('claims through order_events_claim without a sort, reading only the rows it returns', async () => {
    const UNCLAIMED = 100;
    await fillOutbox(UNCLAIMED, 200);

    const [plan] = (await knex.raw(`EXPLAIN ${CLAIM_SQL}`, [BATCH])) as [ExplainRow[]];

    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ table: OUTBOX_TABLE, key: 'order_events_claim' });
    expect(plan[0]?.Extra ?? '').not.toMatch(/Using filesort|Using temporary/);
    // The estimate covers the unclaimed rows, not the 5,000 handed-off ones.
    expect(Number(plan[0]?.rows)).toBeLessThanOrEqual(BATCH + UNCLAIMED);

    // And what it really reads (the statement is run): exactly one batch.
    expect(await analyzeRowsRead(knex, CLAIM_SQL, [BATCH])).toBe(BATCH);
  });

  it('finds an idle outbox idle without reading its handed-off rows (idle check and claim)', async () => {
    await fillOutbox(0, 200);

    for (const [sql, bindings] of [
      [WAITING_HEAD_SQL, [1]],
      [CLAIM_SQL, [BATCH]],
      [WAITING_HEAD_SQL, [BATCH]],
    ] as const) {
      const [plan] = (await knex.raw(`EXPLAIN ${sql}`, bindings)) as [ExplainRow[]];
      expect(plan[0], sql).toMatchObject({ table: OUTBOX_TABLE, key: 'order_events_claim' });
      expect(plan[0]?.Extra ?? '', sql).not.toMatch(/Using filesort|Using temporary/);
      expect(await analyzeRowsRead(knex, sql, bindings), sql).toBe(0);
    }
  });

  it('reads the head of a backlog from order_events_claim alone, as many rows as the claim', async () => {
    await fillOutbox(2_000, 1_000);

    const [plan] = (await knex.raw(`EXPLAIN ${WAITING_HEAD_SQL}`, [BATCH])) as [ExplainRow[]];

    expect(plan[0]).toMatchObject({ table: OUTBOX_TABLE, key: 'order_events_claim' });
    expect(plan[0]?.Extra ?? '').toContain('Using index'); // covering: no row lookups
    expect(plan[0]?.Extra ?? '').not.toMatch(/Using filesort|Using temporary/);
    expect(await analyzeRowsRead(knex, WAITING_HEAD_SQL, [BATCH])).toBe(BATCH);
  });

  it('answers the idle check from order_events_claim alone, reading one row of a backlog', async () => {
    await fillOutbox(2_000, 1_000);

    const [plan] = (await knex.raw(`EXPLAIN ${WAITING_HEAD_SQL}`, [1])) as [ExplainRow[]];

    expect(plan[0]).toMatchObject({ table: OUTBOX_TABLE, key: 'order_events_claim' });
    expect(plan[0]?.Extra ?? '').toContain('Using index'); // covering: no row lookups
    expect(plan[0]?.Extra ?? '').not.toMatch(/Using filesort|Using temporary/);
    expect(await analyzeRowsRead(knex, WAITING_HEAD_SQL, [1])).toBe(1);
  });

  it('checks earlier unclaimed events through order_events_by_order while a backlog waits', async () => {
    // A backlog (an outage of Redis, say): many unclaimed rows over many orders. Reading the
    // batch's orders through order_events_by_order is then cheaper than reading the backlog.
    await fillOutbox(2_000, 1_000);
    const { sql, bindings } = await deferQueryForNextBatch();

    const [plan] = (await knex.raw(`EXPLAIN ${sql}`, bindings)) as [ExplainRow[]];

    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({
      table: OUTBOX_TABLE,
      key: 'order_events_by_order',
      type: 'range',
    });
    expect(plan[0]?.Extra ?? '').not.toMatch(/Using filesort|Using temporary/);
    // The batch's 50 orders have 7 events each (5 handed off, 2 waiting): their history only.
    expect(await analyzeRowsRead(knex, sql, bindings)).toBeLessThanOrEqual(BATCH * 7);
  });

  it('checks earlier unclaimed events without scanning the handed-off history when little waits', async () => {
    // With only a few unclaimed rows MariaDB 10.11 reads them all through order_events_claim
    // (and groups those few in a temporary table) rather than the orders' whole history:
    // either way it reads an index range, never the table.
    const UNCLAIMED = 100;
    await fillOutbox(UNCLAIMED, 200);
    const { sql, bindings } = await deferQueryForNextBatch();

    const [plan] = (await knex.raw(`EXPLAIN ${sql}`, bindings)) as [ExplainRow[]];

    expect(plan).toHaveLength(1);
    expect(['order_events_by_order', 'order_events_claim']).toContain(plan[0]?.key);
    expect(['ref', 'range']).toContain(plan[0]?.type);
    // At most the waiting rows or the batch's orders' history (200 orders: 25 handed off + 0–1
    // waiting each), far from the 5,000 handed-off rows.
    expect(await analyzeRowsRead(knex, sql, bindings)).toBeLessThanOrEqual(BATCH * 26);
  });
});

interface ExplainRow {
  table: string;
  type: string;
  key: string | null;
  rows: number | string;
  Extra: string | null;
}

/**
 * Rows the storage engine really handed to the server for the statement's one table: the
 * statement is run, not estimated. MariaDB: `ANALYZE FORMAT=JSON` (r_rows per loop);
 * MySQL 8 (the Docker path of the test setup): `EXPLAIN ANALYZE` (actual rows per loop).
 */
async function analyzeRowsRead(
  knex: Knex,
  sql: string,
  bindings: readonly unknown[],
): Promise<number> {
  const raw = bindings as Knex.RawBinding[];
  const [[{ version }]] = (await knex.raw('SELECT VERSION() AS version')) as [
    [{ version: string }],
  ];
  if (!/mariadb/i.test(version)) {
    const [[row]] = (await knex.raw(`EXPLAIN ANALYZE ${sql}`, raw)) as [[Record<string, string>]];
    const tree = Object.values(row ?? {})[0] ?? '';
    // The access line (`Index lookup on order_events using …`), not a Filter above it.
    const access = tree.split('\n').find((line) => line.includes(` on ${OUTBOX_TABLE}`));
    const actual = access && /actual time=[^)]*rows=([\d.]+) loops=(\d+)/.exec(access);
    if (!actual) throw new Error(`no actual rows for ${OUTBOX_TABLE} in EXPLAIN ANALYZE:\n${tree}`);
    return Number(actual[1]) * Number(actual[2]);
  }
  const [[row]] = (await knex.raw(`ANALYZE FORMAT=JSON ${sql}`, raw)) as [[{ ANALYZE: string }]];
  const table = findTable(JSON.parse(row.ANALYZE) as unknown);
  if (!table || typeof table.r_rows !== 'number') {
    throw new Error(`no r_rows in ANALYZE output: ${row.ANALYZE}`);
  }
  return table.r_rows * (typeof table.r_loops === 'number' ? table.r_loops : 1);
}

function findTable(node: unknown): { r_rows?: unknown; r_loops?: unknown } | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  const record = node as Record<string, unknown>;
  if (record.table && typeof record.table === 'object' && 'r_rows' in record.table) {
    return record.table as { r_rows?: unknown; r_loops?: unknown };
  }
  for (const value of Object.values(record)) {
    const found = findTable(value);
    if (found) return found;
  }
  return undefined;
}

async function insertOrders(knex: Knex, count: number, status: string): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const [id] = (await knex('orders').insert({ patient_id: 98 + i, status })) as number[];
    ids.push(Number(id));
  }
  return ids;
}

async function tablesOf(knex: Knex): Promise<string[]> {
  const [rows] = (await knex.raw(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()',
  )) as [{ name: string }[]];
  return rows.map((row) => row.name);
}

async function triggersOf(
  knex: Knex,
): Promise<{ name: string; table: string; timing: string; event: string }[]> {
  const [rows] = (await knex.raw(
    `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS \`table\`, ACTION_TIMING AS timing,
            EVENT_MANIPULATION AS event
       FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME`,
  )) as [{ name: string; table: string; timing: string; event: string }[]];
  return rows.map((row) => ({ ...row }));
}

async function indexesOf(knex: Knex, table: string): Promise<Record<string, string[]>> {
  const [rows] = (await knex.raw(
    `SELECT INDEX_NAME AS name, COLUMN_NAME AS column_name FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [table],
  )) as [{ name: string; column_name: string }[]];
  const indexes: Record<string, string[]> = {};
  for (const row of rows) (indexes[row.name] ??= []).push(row.column_name);
  return indexes;
}

async function showCreateTable(knex: Knex, table: string): Promise<string> {
  const [[row]] = (await knex.raw(`SHOW CREATE TABLE \`${table}\``)) as [[Record<string, string>]];
  // AUTO_INCREMENT moves with every insert; everything else must stay as it was.
  return (row?.['Create Table'] ?? '').replace(/ AUTO_INCREMENT=\d+/, '');
}

async function countEvents(knex: Knex): Promise<number> {
  const [{ n }] = (await knex(OUTBOX_TABLE).count({ n: '*' })) as [{ n: number | string }];
  return Number(n);
}
