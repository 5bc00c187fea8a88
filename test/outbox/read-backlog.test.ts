// The backlog reads (every scrape of every process, and `push doctor`) stay cheap on an outbox
// of a million unclaimed rows — the pollers down for a while at a busy order service. EXPLAIN
// must show them on the claim index, and the server's own handler counters (SHOW SESSION
// STATUS, the same on MySQL and MariaDB, no privilege needed) must show how many index entries
// and rows they really read: the capped index range (and the derived table it fills), and one
// entry. The plain COUNT(*) they replace is measured the same way: it reads all million.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationContextOf, DEFAULT_ORDER_COLUMNS } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { BACKLOG_COUNT_CAP } from '../../src/http/pipeline-gauges.js';
import {
  COUNT_UNCLAIMED_SQL,
  OLDEST_UNCLAIMED_SQL,
  countUnclaimed,
  oldestUnclaimedAgeSeconds,
} from '../../src/outbox/read-backlog.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const SIDE_BITS = 10;
const SIDE = 2 ** SIDE_BITS;
/** Rows of `numbers` per INSERT: 128 × 1,024 outbox rows a statement. */
const CHUNK = 128;
/** The hour-old event, and a million more. */
const ROWS = 1 + SIDE * SIDE;
const OLDEST_AGE_S = 3600;

describe('backlog reads on a million-row outbox', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('read-backlog');
    await createOrderServiceTables(db.knex);
    await migrateLatest(
      db.knex,
      migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
    );
    // One event an hour old, then the rest from a 1,024-row numbers table joined with itself:
    // a million rows in seconds. (INSERT … SELECT from order_events itself would make the server
    // buffer each doubling in a temporary table on disk.)
    const startedAt = Date.now();
    await db.knex.raw(
      `INSERT INTO order_events (order_id, patient_id, from_status, to_status, created_at)
       VALUES (1, 1, 'PENDING_PAYMENT', 'CANCELLED', CURRENT_TIMESTAMP(3) - INTERVAL ${OLDEST_AGE_S} SECOND)`,
    );
    await db.knex.raw('CREATE TABLE numbers (n INT UNSIGNED NOT NULL PRIMARY KEY)');
    await db.knex.raw('INSERT INTO numbers VALUES (0)');
    for (let i = 0; i < SIDE_BITS; i += 1) {
      await db.knex.raw('INSERT INTO numbers SELECT n + ? FROM numbers', [2 ** i]);
    }
    for (let chunk = 0; chunk < SIDE; chunk += CHUNK) {
      await db.knex.raw(
        `INSERT INTO order_events (order_id, patient_id, from_status, to_status)
         SELECT a.n * ? + b.n + 2, 1, 'PENDING_PAYMENT', 'CANCELLED'
           FROM numbers a CROSS JOIN numbers b WHERE a.n >= ? AND a.n < ?`,
        [SIDE, chunk, chunk + CHUNK],
      );
    }
    console.log(`[read-backlog] built ${ROWS} outbox rows in ${Date.now() - startedAt} ms`);
  }, 300_000);

  afterAll(async () => {
    await db?.drop();
  });

  it('counts up to the cap on the claim index, reading the capped range and no more', async () => {
    expect(
      planTables(await explain(db.knex, COUNT_UNCLAIMED_SQL, [BACKLOG_COUNT_CAP + 1])),
    ).toEqual([{ table: 'order_events', key: 'order_events_claim', coveringIndex: true }]);
    const { result, reads, ms } = await measured(db.knex, (trx) =>
      countUnclaimed(trx, BACKLOG_COUNT_CAP),
    );
    expect(result).toBe(BACKLOG_COUNT_CAP + 1);
    // The capped range of the claim index, then the derived table it filled: twice the cap.
    expect(reads).toBeLessThanOrEqual(2 * (BACKLOG_COUNT_CAP + 2));
    console.log(`[read-backlog] capped count: ${reads} reads, ${ms} ms`);

    // What it replaces: every unclaimed entry, a million.
    const whole = await measured(db.knex, async (trx) => {
      const [rows] = (await trx.raw(
        'SELECT COUNT(*) AS n FROM order_events WHERE handed_off_at IS NULL',
      )) as [Array<{ n: number | string }>];
      return Number(rows[0]?.n);
    });
    expect(whole.result).toBe(ROWS);
    expect(whole.reads).toBeGreaterThanOrEqual(ROWS);
    console.log(`[read-backlog] uncapped COUNT(*): ${whole.reads} reads, ${whole.ms} ms`);
  });

  it('finds the oldest unclaimed event on the claim index, reading one entry and its row', async () => {
    const plan = await explain(db.knex, OLDEST_UNCLAIMED_SQL);
    expect(planTables(plan)).toEqual([
      { table: 'order_events', key: 'order_events_claim', coveringIndex: false },
    ]);
    expect(plan.map((row) => row.Extra ?? '').join(' ')).not.toMatch(/filesort/i);
    const { result, reads, ms } = await measured(db.knex, (trx) => oldestUnclaimedAgeSeconds(trx));
    expect(result).toBeGreaterThanOrEqual(OLDEST_AGE_S);
    expect(result).toBeLessThan(OLDEST_AGE_S + 300);
    expect(reads).toBeLessThanOrEqual(2);
    console.log(`[read-backlog] oldest unclaimed: ${reads} reads, ${ms} ms`);
  });
});

interface PlanRow {
  table: string | null;
  key: string | null;
  Extra: string | null;
}

async function explain(knex: Knex, sql: string, bindings: number[] = []): Promise<PlanRow[]> {
  const [rows] = (await knex.raw(`EXPLAIN ${sql}`, bindings)) as [PlanRow[]];
  return rows;
}

/** The plan's reads of real tables (derived tables left out), and whether the index covers them. */
function planTables(plan: PlanRow[]) {
  return plan
    .filter((row) => row.table !== null && !row.table.startsWith('<'))
    .map((row) => ({
      table: row.table,
      key: row.key,
      coveringIndex: /Using index(?! condition)/.test(row.Extra ?? ''),
    }));
}

/**
 * Runs `read` on one connection and counts the index entries and rows the server read for it
 * (the Handler_read_* status counters), minus what reading the counters costs by itself.
 */
async function measured<T>(
  knex: Knex,
  read: (trx: Knex.Transaction) => Promise<T>,
): Promise<{ result: T; reads: number; ms: number }> {
  return knex.transaction(async (trx) => {
    const handlerReads = async () => {
      const [rows] = (await trx.raw("SHOW SESSION STATUS LIKE 'Handler_read%'")) as [
        Array<{ Variable_name: string; Value: string }>,
      ];
      return rows.reduce((sum, row) => sum + Number(row.Value), 0);
    };
    const baseline = -(await handlerReads()) + (await handlerReads());
    const before = await handlerReads();
    const startedAt = Date.now();
    const result = await read(trx);
    const ms = Date.now() - startedAt;
    const reads = (await handlerReads()) - before - baseline;
    return { result, reads, ms };
  });
}
