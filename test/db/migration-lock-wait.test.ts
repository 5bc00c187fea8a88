// `push migrate` on a busy orders table: a report holds a transaction open that has read
// `orders`, the migrate must replace the trigger (an older version's is in place), and an
// order service keeps writing. The migrate's DDL waits MIGRATION_LOCK_WAIT_S at a time, the
// order writes queue behind it for at most about that long, the migrate gives up after
// MIGRATION_LOCK_ATTEMPTS naming the holder, and no order change goes unrecorded. The real
// CLI (`node dist/src/cli.js migrate`, what `npm run migrate` runs) as a child process.
import type { Connection } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../../src/db/migration-context.js';
import { MigrationError } from '../../src/db/migration-error.js';
import { readInstalledTrigger, TRIGGER_NAME } from '../../src/db/order-trigger.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { readerOf } from '../../src/db/schema-session.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { orderServiceConnection } from '../support/order-service-session.js';
import { runCli } from '../support/run-cli.js';
import { serverFlavor } from '../support/server-flavor.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const ctx = migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS });
const LOCK_WAIT_S = 1;
const ATTEMPTS = 3;
/** schema-session.ts's pause between attempts. */
const PAUSE_S = 1;
/** A loaded shared machine: process start-up, scheduling. Not a speed claim. */
const SLACK_S = 2.5;

let db: TestDatabase;
const connections: Connection[] = [];

beforeEach(async () => {
  db = await createTestDatabase('lock-wait');
  await createOrderServiceTables(db.knex);
  await migrateLatest(db.knex, ctx);
  // An older version's trigger, so that the next migrate has to replace it.
  await db.knex.raw(`DROP TRIGGER ${TRIGGER_NAME}`);
  await db.knex.raw(
    `CREATE TRIGGER ${TRIGGER_NAME} AFTER UPDATE ON orders FOR EACH ROW
       INSERT INTO order_events (order_id, from_status, to_status) VALUES (NEW.id, OLD.status, NEW.status)`,
  );
  await db
    .knex('orders')
    .insert(Array.from({ length: 20 }, (_, i) => ({ patient_id: 100 + i, status: 'PAYING' })));
});

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.end().catch(() => {})));
  await db.drop();
});

async function connect(url: string): Promise<Connection> {
  const connection = await orderServiceConnection(url);
  connections.push(connection);
  return connection;
}

/** A report: a transaction that has read `orders` and stays open. Returns its session id. */
async function holdReadTransaction(url: string): Promise<{ id: number; connection: Connection }> {
  const connection = await connect(url);
  const [[{ id }]] = (await connection.query('SELECT CONNECTION_ID() AS id')) as unknown as [
    [{ id: number }],
  ];
  await connection.query('START TRANSACTION');
  await connection.query('SELECT COUNT(*) FROM orders');
  return { id: Number(id), connection };
}

/** The order service: status UPDATEs one after another until stopped; each one's duration. */
function writeOrders(connection: Connection): { stop(): Promise<number[]> } {
  const durationsMs: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const started = performance.now();
      await connection.query(
        `UPDATE orders SET status = IF(status = 'PAYING', 'AWAITING_ACCEPT', 'PAYING') WHERE id = ?`,
        [1 + (i % 20)],
      );
      durationsMs.push(performance.now() - started);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return durationsMs;
    },
  };
}

describe('push migrate while a transaction holds a metadata lock on orders', () => {
  it('waits a bounded time, lets order writes through, and fails naming the holder; the next run succeeds', async () => {
    const report = await holdReadTransaction(db.url);
    const writer = writeOrders(await connect(db.url));
    const env = {
      DATABASE_URL: db.url,
      MIGRATION_LOCK_WAIT_S: String(LOCK_WAIT_S),
      MIGRATION_LOCK_ATTEMPTS: String(ATTEMPTS),
    };

    const started = performance.now();
    const run = await runCli(['migrate'], env);
    const migrateS = (performance.now() - started) / 1000;
    const durationsMs = await writer.stop();

    expect(run.code, run.stdout).toBe(1);
    expect(run.stderr).toContain(
      `gave up after ${ATTEMPTS} attempt(s) of ${LOCK_WAIT_S} s each (MIGRATION_LOCK_ATTEMPTS, MIGRATION_LOCK_WAIT_S)`,
    );
    // The statement that waited: the first of the trigger's replacement on this server.
    const waited =
      (await serverFlavor(db.knex)) === 'MariaDB'
        ? 'CREATE OR REPLACE TRIGGER'
        : 'LOCK TABLES `orders` WRITE';
    expect(run.stderr).toContain(`to run:\n  ${waited}`);
    // The report is this account's own session, so the account can see it, idle in its transaction.
    expect(run.stderr).toMatch(
      new RegExp(`session ${report.id} \\(${db.account.user}@[^)]+\\): idle for \\d+ s`),
    );
    expect(run.stderr).toContain(
      'Without the PROCESS privilege an account sees only its own sessions',
    );
    expect(run.stderr).toContain('CALL mysql.rds_kill(<id>)');
    expect(run.stderr).not.toContain('    at ');
    // Bounded: attempts × wait, the pauses between, and slack; a year without the bound.
    expect(migrateS).toBeLessThan(ATTEMPTS * LOCK_WAIT_S + (ATTEMPTS - 1) * PAUSE_S + SLACK_S + 2);

    // The order writes waited behind the migrate's pending lock (so the bound was exercised),
    // never much longer than one wait, and went on between the attempts.
    const longestS = Math.max(...durationsMs) / 1000;
    expect(longestS).toBeGreaterThan(LOCK_WAIT_S * 0.5);
    expect(longestS).toBeLessThan(LOCK_WAIT_S + SLACK_S);
    expect(durationsMs.filter((ms) => ms > LOCK_WAIT_S * 500).length).toBeGreaterThanOrEqual(2);
    // Every write was recorded by the trigger left in place: nothing fell into a gap.
    const [[{ n }]] = (await db.knex.raw('SELECT COUNT(*) AS n FROM order_events')) as [
      [{ n: number | string }],
    ];
    expect(Number(n)).toBe(durationsMs.length);
    expect((await readInstalledTrigger(readerOf(db.knex)))?.body).toMatch(
      /^INSERT INTO order_events/,
    );

    // The report ends; the same command now goes through.
    await report.connection.query('COMMIT');
    const retried = await runCli(['migrate'], env);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain(waited);
    expect((await readInstalledTrigger(readerOf(db.knex)))?.body).toMatch(/^BEGIN/);
  });

  it("says it cannot see the holder when another account's session holds the lock", async () => {
    // Root stands in for another account (the order service's reporting user): the app
    // account, without PROCESS, cannot see its sessions. Setup only; the migrate is the app's.
    const report = await holdReadTransaction(db.adminUrl);

    const failure = await migrateLatest(db.knex, ctx, {
      lockWaitS: LOCK_WAIT_S,
      lockAttempts: 1,
    }).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(MigrationError);
    const message = (failure as Error).message;
    expect(message).toContain('gave up after 1 attempt(s) of 1 s each');
    expect(message).not.toContain(`session ${report.id} `);
    expect(message).toContain("the holder may be another account's session");
    expect(message).toMatch(/information_schema\.INNODB_TRX: not readable \(ER_\w+\)/);
  });
});
