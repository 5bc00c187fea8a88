// push's copies of `orders` columns (the outbox's ids, statuses and reasons) against order
// services whose columns are not SPEC §2's, and against an order service that widens a column
// after migrating (drift). Every order UPDATE runs in strict SQL mode as on RDS: whatever the
// order service can store, its UPDATE succeeds and the event is recorded; `push doctor` names
// drift and says what to run; migrating again widens the outbox online without losing events.
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../../src/db/migration-context.js';
import { MigrationError } from '../../src/db/migration-error.js';
import { TRIGGER_NAME, triggerSql } from '../../src/db/order-trigger.js';
import { migrateLatest, runMigrations } from '../../src/db/run-migrations.js';
import { checkOutboxColumns } from '../../src/doctor/check-outbox-columns.js';
import { checkTriggers } from '../../src/doctor/check-triggers.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import { connectOrderService } from '../support/order-service-session.js';
import { sampleEvent } from '../support/sample-event.js';
import { serverFlavor, triggerReplacementSql } from '../support/server-flavor.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const ctx = migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS });

let db: TestDatabase;
let orderService: Knex;

beforeEach(async () => {
  db = await createTestDatabase('outbox-types');
  orderService = connectOrderService(db.url);
});

afterEach(async (context: TestContext) => {
  await orderService.destroy();
  if (context.task.result?.state === 'fail') {
    console.warn(`[outbox-column-types.test] kept database ${db.name} of a failing test`);
    await db.knex.destroy();
    return;
  }
  await db.drop();
});

/** An orders table with SPEC §2's columns in other types; the order service's own DDL. */
async function createOrders(columns: {
  id?: string;
  patientId?: string;
  nurseId?: string;
  status?: string;
  reason?: string;
}): Promise<void> {
  const id = columns.id ?? 'BIGINT UNSIGNED';
  await db.knex.raw(`
    CREATE TABLE orders (
      id            ${id} PRIMARY KEY${/INT/i.test(id) ? ' AUTO_INCREMENT' : ''},
      patient_id    ${columns.patientId ?? 'BIGINT UNSIGNED'} NOT NULL,
      nurse_id      ${columns.nurseId ?? 'BIGINT UNSIGNED'} NULL,
      status        ${columns.status ?? 'VARCHAR(32)'} NOT NULL,
      status_reason ${columns.reason ?? 'VARCHAR(32)'} NULL,
      note          VARCHAR(255) NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
}

async function columnTypes(table: string): Promise<Record<string, string>> {
  const [rows] = (await db.knex.raw(
    `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, CHARACTER_SET_NAME AS charset
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [table],
  )) as [{ name: string; type: string; charset: string | null }[]];
  // MariaDB writes bigint(20), MySQL 8 bigint: the display width means nothing.
  const typeOf = (type: string) =>
    type.replace(/^(tinyint|smallint|mediumint|int|bigint)\(\d+\)/, '$1');
  return Object.fromEntries(
    rows.map((r) => [r.name, `${typeOf(r.type)}${r.charset ? ` ${r.charset}` : ''}`]),
  );
}

async function events(): Promise<Record<string, string | null>[]> {
  const [rows] = (await db.knex.raw(
    `SELECT CAST(order_id AS CHAR) AS orderId, CAST(patient_id AS CHAR) AS patientId,
            CAST(nurse_id AS CHAR) AS nurseId, from_status AS fromStatus, to_status AS toStatus,
            from_reason AS fromReason, to_reason AS toReason
       FROM order_events ORDER BY id`,
  )) as [Record<string, string | null>[]];
  return rows.map((row) => ({ ...row }));
}

describe("push's copies of orders columns", () => {
  it('take the id signedness and the status lengths of orders, so every value the order service stores is recorded', async () => {
    await createOrders({
      id: 'BIGINT',
      patientId: 'INT',
      nurseId: 'INT UNSIGNED',
      status: 'VARCHAR(80) CHARACTER SET latin1',
      reason: 'VARCHAR(64)',
    });

    await migrateLatest(db.knex, ctx);

    const outbox = await columnTypes('order_events');
    expect(outbox).toMatchObject({
      order_id: 'bigint',
      patient_id: 'bigint',
      nurse_id: 'bigint unsigned',
      from_status: 'varchar(80) utf8mb4',
      to_status: 'varchar(80) utf8mb4',
      from_reason: 'varchar(64) utf8mb4',
      to_reason: 'varchar(64) utf8mb4',
    });
    expect((await columnTypes('push_attempts')).order_id).toBe('bigint');
    // The trigger keeps the strict mode it was created in: this is the run that matters.
    const [[trigger]] = (await db.knex.raw(
      'SELECT SQL_MODE AS mode FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = ?',
      [TRIGGER_NAME],
    )) as [[{ mode: string }]];
    expect(trigger.mode).toContain('STRICT_TRANS_TABLES');

    // Extremes of each column, in strict mode: a negative id, the largest INT UNSIGNED, an
    // 80-character latin1 status with accents, a 64-character reason.
    const longStatus = `ÉTAT_${'é'.repeat(70)}_FIN`.slice(0, 80);
    const longReason = 'R'.repeat(64);
    const [id] = (await orderService('orders').insert({
      id: -5_000_000_000,
      patient_id: -2_147_483_648,
      nurse_id: 4_294_967_295,
      status: 'PAYING',
    })) as number[];
    expect(id).toBe(-5_000_000_000);
    await orderService('orders')
      .where({ id })
      .update({ status: longStatus, status_reason: longReason });

    expect(await events()).toEqual([
      {
        orderId: '-5000000000',
        patientId: '-2147483648',
        nurseId: '4294967295',
        fromStatus: 'PAYING',
        toStatus: longStatus,
        fromReason: null,
        toReason: longReason,
      },
    ]);
  });

  it('take ENUM statuses as text as long as their longest label', async () => {
    const longest = `A_LABEL_OF_70_CHARACTERS_${'X'.repeat(45)}`;
    expect(longest).toHaveLength(70);
    await createOrders({ status: `ENUM('PAYING','AWAITING_ACCEPT_PRIORITY','${longest}')` });

    await migrateLatest(db.knex, ctx);

    expect((await columnTypes('order_events')).to_status).toBe('varchar(70) utf8mb4');
    const [id] = (await orderService('orders').insert({
      patient_id: 98,
      status: 'PAYING',
    })) as number[];
    await orderService('orders').where({ id }).update({ status: longest });
    expect((await events()).map((e) => e.toStatus)).toEqual([longest]);
  });

  it('fail naming a column whose type push cannot copy', async () => {
    await createOrders({ id: 'VARCHAR(36)' });

    const failure = await migrateLatest(db.knex, ctx).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toContain('`orders`.`id` is varchar(36)');
  });
});

describe('when orders is widened after migrating (drift)', () => {
  it('records a longer status cut short, doctor names the drift, and migrating again widens the outbox online, keeping every event', async () => {
    await createOrders({});
    await migrateLatest(db.knex, ctx);
    expect((await columnTypes('order_events')).to_status).toBe('varchar(64) utf8mb4');
    const [id] = (await orderService('orders').insert({
      patient_id: 98,
      status: 'PAYING',
    })) as number[];
    // The order service widens its column, and writes a status longer than the outbox holds.
    await db.knex.raw('ALTER TABLE orders MODIFY status VARCHAR(100) NOT NULL');
    const longStatus = `LONG_${'S'.repeat(74)}_1`;
    expect(longStatus).toHaveLength(81);

    await orderService('orders').where({ id }).update({ status: longStatus });

    const cut = `${longStatus.slice(0, 63)}~`;
    expect((await events()).map((e) => e.toStatus)).toEqual([cut]);
    // A cut status is no status code: it matches no scenario (SPEC §4).
    const catalog = loadScenarioCatalog();
    expect(matchEvent(sampleEvent('PAYING', cut), catalog)).toStrictEqual({
      pushes: [],
      unknownStatuses: [cut],
    });

    const columns = await checkOutboxColumns(db.knex, ctx);
    expect(columns.verdict).toBe('fail');
    expect(columns.summary).toContain('order_events.from_status, order_events.to_status');
    expect(columns.details.join('\n')).toContain(
      '`order_events`.`to_status`: varchar(64) is narrower than varchar(100) (`orders`.`status`)',
    );
    expect(columns.fix).toContain('run `npx push migrate`');
    const trigger = await checkTriggers(db.knex, ctx, { canSeeTriggers: true });
    expect(trigger.verdict).toBe('fail'); // it cuts at 64, this version would at 100

    const run = await runMigrations(db.knex, ctx);

    expect(run.names).toEqual([]);
    expect(run.problems).toEqual([]);
    expect(run.statements.slice(1)).toEqual([
      'ALTER TABLE `order_events` MODIFY `from_status` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL, ' +
        'MODIFY `to_status` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL, ALGORITHM=INPLACE, LOCK=NONE',
      ...triggerReplacementSql(
        await serverFlavor(db.knex),
        triggerSql(ctx, { status: 100, reason: 64 }),
      ),
    ]);
    expect((await columnTypes('order_events')).to_status).toBe('varchar(100) utf8mb4');
    expect((await checkOutboxColumns(db.knex, ctx)).verdict).toBe('ok');
    expect((await checkTriggers(db.knex, ctx, { canSeeTriggers: true })).verdict).toBe('ok');
    // The event recorded before is still there, and the next long status is recorded whole.
    await orderService('orders')
      .where({ id })
      .update({ status: `${longStatus}2` });
    expect((await events()).map((e) => e.toStatus)).toEqual([cut, `${longStatus}2`]);
  });

  it("brings an older version's outbox in line: widened in place within one length byte, the trigger replaced", async () => {
    await createOrders({});
    await olderVersionInstalled();
    await db.knex.raw('ALTER TABLE orders MODIFY status VARCHAR(40) NOT NULL');

    const applied = await migrateLatest(db.knex, ctx);

    expect(applied).toEqual(['20261201_201_outbox_follows_orders']);
    expect(await columnTypes('order_events')).toMatchObject({
      to_status: 'varchar(63) utf8mb4',
      to_reason: 'varchar(32) utf8mb4',
      order_id: 'bigint unsigned',
    });
    expect((await checkTriggers(db.knex, ctx, { canSeeTriggers: true })).verdict).toBe('ok');
    const [id] = (await orderService('orders').insert({
      patient_id: 98,
      status: 'PAYING',
    })) as number[];
    await orderService('orders')
      .where({ id })
      .update({ status: 'X'.repeat(40), status_reason: 'Y'.repeat(32) });
    expect((await events()).map((e) => [e.toStatus, e.toReason])).toEqual([
      ['X'.repeat(40), 'Y'.repeat(32)],
    ]);
  });

  it('leaves a widening only a table copy can make to a DBA, with the statement, and order writes still succeed', async () => {
    await createOrders({});
    await olderVersionInstalled();
    await db.knex.raw('ALTER TABLE orders MODIFY status VARCHAR(100) NOT NULL');

    const failure = await migrateLatest(db.knex, ctx).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(MigrationError);
    const message = (failure as Error).message;
    expect(message).toContain(
      '`order_events`.`to_status`: varchar(32) is narrower than varchar(100)',
    );
    expect(message).toContain('blocks every UPDATE on the orders');
    const copy = /^ {2}(ALTER TABLE `order_events` .*ALGORITHM=COPY, LOCK=SHARED);$/m.exec(
      message,
    )?.[1];
    expect(copy).toBeDefined();
    // The outbox is as it was, and the trigger (replaced all the same) cuts to what it holds.
    expect((await columnTypes('order_events')).to_status).toBe('varchar(32) utf8mb4');
    const [id] = (await orderService('orders').insert({
      patient_id: 98,
      status: 'PAYING',
    })) as number[];
    await orderService('orders')
      .where({ id })
      .update({ status: 'L'.repeat(90) });
    expect((await events()).map((e) => e.toStatus)).toEqual([`${'L'.repeat(31)}~`]);
    expect((await checkOutboxColumns(db.knex, ctx)).fix).toContain(copy);

    // The DBA runs it at a quiet moment; the next migrate finishes the job.
    await db.knex.raw(copy!);
    await migrateLatest(db.knex, ctx);
    await orderService('orders')
      .where({ id })
      .update({ status: 'M'.repeat(90) });
    expect((await events()).map((e) => e.toStatus)).toEqual([`${'L'.repeat(31)}~`, 'M'.repeat(90)]);
    expect((await columnTypes('order_events')).to_status).toBe('varchar(100) utf8mb4');
  });
});

/**
 * The state an install of the previous version leaves: migrations 001–003 applied, an outbox
 * with VARCHAR(32) statuses, and that version's trigger (no cutting).
 */
async function olderVersionInstalled(): Promise<void> {
  await migrateLatest(db.knex, ctx);
  await db.knex('push_migrations').where({ name: '20261201_201_outbox_follows_orders' }).del();
  await db.knex.raw(
    `ALTER TABLE order_events ${['from_status', 'to_status', 'from_reason', 'to_reason']
      .map((c) => `MODIFY ${c} VARCHAR(32) NULL`)
      .join(', ')}`,
  );
  await db.knex.raw(`DROP TRIGGER ${TRIGGER_NAME}`);
  await db.knex.raw(`CREATE TRIGGER \`${TRIGGER_NAME}\` AFTER UPDATE ON \`orders\` FOR EACH ROW
BEGIN
  IF NOT (OLD.\`status\` <=> NEW.\`status\`)
     OR NOT (OLD.\`status_reason\` <=> NEW.\`status_reason\`) THEN
    INSERT INTO \`order_events\`
      (order_id, patient_id, nurse_id, from_status, to_status, from_reason, to_reason)
    VALUES
      (NEW.\`id\`, NEW.\`patient_id\`, NEW.\`nurse_id\`,
       OLD.\`status\`, NEW.\`status\`, OLD.\`status_reason\`, NEW.\`status_reason\`);
  END IF;
END`);
}
