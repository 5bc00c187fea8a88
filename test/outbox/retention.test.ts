import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrationContextOf, DEFAULT_ORDER_COLUMNS } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { deleteExpired, startRetentionLoop } from '../../src/outbox/retention.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const HOUR_MS = 3_600_000;
const silent = pino({ level: 'silent' });

describe('outbox and trace retention', () => {
  let db: TestDatabase;
  let knex: Knex;

  beforeAll(async () => {
    db = await createTestDatabase('retention');
    knex = db.knex;
    await createOrderServiceTables(knex);
    await migrateLatest(
      knex,
      migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
    );
  });

  afterAll(async () => {
    await db?.drop();
  });

  beforeEach(async () => {
    await knex('order_events').delete();
    await knex('push_attempts').delete();
    await knex('push_outcomes').delete();
  });

  const hoursAgo = (hours: number) => new Date(Date.now() - hours * HOUR_MS);

  async function insertEvents(
    count: number,
    createdHoursAgo: number,
    handedOffHoursAgo: number | null,
  ) {
    const rows = Array.from({ length: count }, (_, i) => ({
      order_id: 1_000 + i,
      patient_id: 98,
      from_status: 'AWAITING_ACCEPT',
      to_status: 'AWAITING_SERVICE',
      created_at: hoursAgo(createdHoursAgo),
      handed_off_at: handedOffHoursAgo === null ? null : hoursAgo(handedOffHoursAgo),
    }));
    await knex('order_events').insert(rows);
  }

  async function insertAttempts(count: number, attemptedHoursAgo: number) {
    const rows = Array.from({ length: count }, (_, i) => ({
      event_id: 1,
      order_id: 1_000 + i,
      idempotency_key: `evt-1-NURSE_ACCEPTED-${i}`,
      scenario: 'NURSE_ACCEPTED',
      recipient_role: 'patient',
      recipient_id: '98',
      channel: 'wechat',
      attempt: 1,
      outcome: 'delivered',
      singer_status: 200,
      attempted_at: hoursAgo(attemptedHoursAgo),
    }));
    await knex('push_attempts').insert(rows);
  }

  async function remaining() {
    const events = (await knex('order_events').select('handed_off_at', 'created_at')) as Array<{
      handed_off_at: Date | null;
      created_at: Date;
    }>;
    const attempts = (await knex('push_attempts').count({ n: '*' })) as [{ n: number | string }];
    return {
      oldUnclaimed: events.filter((e) => e.handed_off_at === null).length,
      handedOff: events.filter((e) => e.handed_off_at !== null).length,
      attempts: Number(attempts[0].n),
    };
  }

  it('deletes only what is old and done, in bounded batches (old unclaimed and recent rows stay)', async () => {
    await insertEvents(5, 250, 240); // old and handed off: go
    await insertEvents(3, 500, null); // older still, but never claimed: stay
    await insertEvents(4, 2, 1); // handed off an hour ago: stay
    await insertAttempts(3, 240); // old trace rows: go
    await insertAttempts(2, 1); // recent trace rows: stay

    // Rows per DELETE statement: its bindings are the batch's ids plus the cutoff.
    const rowsPerDelete: number[] = [];
    const onQuery = (query: { sql: string; bindings?: unknown[] }) => {
      if (/^\s*DELETE/i.test(query.sql)) rowsPerDelete.push((query.bindings?.length ?? 0) - 1);
    };
    knex.on('query', onQuery);
    const counts = await deleteExpired(knex, hoursAgo(168), 2, { pauseMs: 1 });
    knex.off('query', onQuery);

    expect(counts).toEqual({ events: 5, attempts: 3, outcomes: 0, batches: 5 });
    // 5 events in batches of 2, then 3 trace rows.
    expect(rowsPerDelete).toEqual([2, 2, 1, 2, 1]);
    expect(await remaining()).toEqual({ oldUnclaimed: 3, handedOff: 4, attempts: 2 });
  });

  it('a second pass finds nothing to delete', async () => {
    await insertEvents(3, 250, 240);
    await deleteExpired(knex, hoursAgo(168), 1000, { pauseMs: 1 });
    expect(await deleteExpired(knex, hoursAgo(168), 1000, { pauseMs: 1 })).toEqual({
      events: 0,
      attempts: 0,
      outcomes: 0,
      batches: 0,
    });
  });

  it('the loop deletes expired rows inside the service and stops when asked', async () => {
    await insertEvents(7, 50, 48);
    await insertEvents(2, 50, null);
    await insertAttempts(4, 48);
    const loop = startRetentionLoop({
      knex,
      logger: silent,
      retentionHours: 24,
      batchSize: 3,
      intervalMs: 50,
      pauseMs: 1,
    });
    try {
      await expect
        .poll(async () => remaining(), { timeout: 5_000 })
        .toEqual({
          oldUnclaimed: 2,
          handedOff: 0,
          attempts: 0,
        });
    } finally {
      await loop.stop();
    }
    await loop.stop(); // idempotent
  });

  /** An old, handed-off event with pushes in these states (null: owed); returns its id. */
  async function eventWithPushes(
    outcomes: Array<'delivered' | 'dead_letter' | null>,
    settledHoursAgo = 240,
  ): Promise<string> {
    const [id] = (await knex('order_events').insert({
      order_id: 2_000,
      patient_id: 98,
      nurse_id: 7,
      from_status: 'IN_SERVICE',
      to_status: 'SERVICE_DONE',
      created_at: hoursAgo(250),
      handed_off_at: hoursAgo(240),
    })) as number[];
    await knex('push_outcomes').insert(
      outcomes.map((outcome, i) => ({
        event_id: id,
        scenario: `SCENARIO_${i}`,
        idempotency_key: `evt-${id}-SCENARIO_${i}`,
        order_id: 2_000,
        recipient_role: 'patient',
        recipient_id: '98',
        channel: 'wechat',
        handed_off_at: hoursAgo(240),
        outcome,
        settled_at: outcome === null ? null : hoursAgo(settledHoursAgo),
      })),
    );
    return String(id);
  }

  async function eventIds(): Promise<string[]> {
    return ((await knex('order_events').select('id').orderBy('id')) as Array<{ id: unknown }>).map(
      (row) => String(row.id),
    );
  }

  async function outcomesLeft(): Promise<string[]> {
    const rows = (await knex('push_outcomes')
      .select('idempotency_key', 'outcome')
      .orderBy(['event_id', 'scenario'])) as Array<{ idempotency_key: string; outcome: string }>;
    return rows.map((row) => `${row.idempotency_key}:${row.outcome ?? 'owed'}`);
  }

  it('keeps every event with a push still owed or dead-lettered, however old, and the evidence of those pushes', async () => {
    // Written oldest first, so that with batches of 2 the rows that must stay come first
    // and the pass has to look past them.
    const owed = await eventWithPushes([null]);
    const halfDone = await eventWithPushes(['delivered', null]);
    const dead = await eventWithPushes(['dead_letter']);
    await eventWithPushes(['delivered', 'delivered']); // all delivered: goes
    const latelyDelivered = await eventWithPushes(['delivered'], 1);
    await insertEvents(2, 250, 240); // matched no scenario: no pushes at all

    const counts = await deleteExpired(knex, hoursAgo(168), 2, { pauseMs: 1 });

    expect(await eventIds()).toEqual([owed, halfDone, dead]);
    expect(await outcomesLeft()).toEqual([
      `evt-${owed}-SCENARIO_0:owed`,
      `evt-${halfDone}-SCENARIO_1:owed`,
      `evt-${dead}-SCENARIO_0:dead_letter`,
      // Handed off long ago but delivered an hour ago: its outcome keeps its retention.
      `evt-${latelyDelivered}-SCENARIO_0:delivered`,
    ]);
    expect(counts).toMatchObject({ events: 4, outcomes: 3 });
  });

  it('deletes an event once its last owed push is delivered, at the next pass', async () => {
    const id = await eventWithPushes([null]);
    await deleteExpired(knex, hoursAgo(168), 100, { pauseMs: 1 });
    expect(await eventIds()).toEqual([id]);

    await knex('push_outcomes')
      .where({ event_id: id })
      .update({ outcome: 'delivered', settled_at: hoursAgo(200) });
    await deleteExpired(knex, hoursAgo(168), 100, { pauseMs: 1 });

    expect(await eventIds()).toEqual([]);
    expect(await outcomesLeft()).toEqual([]);
  });

  it('OUTBOX_RETENTION_HOURS=0 keeps everything', async () => {
    await insertEvents(3, 5_000, 4_000);
    const loop = startRetentionLoop({ knex, logger: silent, retentionHours: 0, intervalMs: 10 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await loop.stop();
    expect((await remaining()).handedOff).toBe(3);
  });
});
