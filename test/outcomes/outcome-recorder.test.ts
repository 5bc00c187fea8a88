// The worker's group commit of outcomes, on a real MariaDB: concurrent outcomes share one
// upsert, a delivered push stays delivered, and while MySQL refuses the write the outcome waits
// (its job with it) and is written once MySQL takes it again.
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { DEFAULT_ORDER_COLUMNS, migrationContextOf } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { insertOwedSql } from '../../src/outcomes/outcome-rows.js';
import { startOutcomeRecorder } from '../../src/outcomes/outcome-recorder.js';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import type { PushJob } from '../../src/scenarios/types.js';
import { sampleEvent } from '../support/sample-event.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const silent = pino({ level: 'silent' });
const catalog = loadScenarioCatalog();

let db: TestDatabase;
let knex: Knex;

beforeAll(async () => {
  db = await createTestDatabase('outcome-recorder');
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
  await knex('push_outcomes').delete();
});

/** The push a service start (AWAITING_SERVICE → IN_SERVICE) of event `eventId` makes. */
function pushOf(eventId: number): PushJob {
  const event = { ...sampleEvent('AWAITING_SERVICE', 'IN_SERVICE'), eventId: String(eventId) };
  const [push] = matchEvent(event, catalog).pushes;
  if (!push) throw new Error('the sample event fires no push');
  return push;
}

async function rowsByKey() {
  const rows = (await knex('push_outcomes').orderBy('event_id')) as Array<{
    idempotency_key: string;
    outcome: string | null;
    attempts: number | null;
    singer_status: number | null;
    reason: string | null;
    settled_at: Date | null;
  }>;
  return new Map(rows.map((row) => [row.idempotency_key, row]));
}

it('writes the outcomes of concurrent deliveries in a few multi-row upserts, each settled when it resolves', async () => {
  const pushes = Array.from({ length: 64 }, (_, i) => pushOf(1_000 + i));
  // Half were recorded as owed by the poller; the rest only reach MySQL with their outcome.
  const owed = insertOwedSql(pushes.slice(0, 32));
  await knex.raw(owed.sql, owed.values as Knex.Value[]);
  const inserts: number[] = [];
  const onQuery = (query: { sql: string; bindings?: unknown[] }) => {
    if (/^\s*INSERT INTO push_outcomes/i.test(query.sql)) inserts.push(query.bindings?.length ?? 0);
  };
  knex.on('query', onQuery);
  const recorder = startOutcomeRecorder(knex, silent);
  try {
    await Promise.all(
      pushes.map((push) =>
        recorder.record({ push, outcome: 'delivered', attempts: 1, singerStatus: 200 }),
      ),
    );
  } finally {
    knex.off('query', onQuery);
    await recorder.stop();
  }

  // Recorded in the same turn of the event loop: one upsert carries them all.
  expect(inserts).toHaveLength(1);
  const rows = await rowsByKey();
  expect(rows.size).toBe(64);
  for (const push of pushes) {
    expect(rows.get(push.idempotencyKey)).toMatchObject({
      outcome: 'delivered',
      attempts: 1,
      singer_status: 200,
      settled_at: expect.any(Date),
    });
  }
});

it('lets outcomes that arrive a few milliseconds apart share one commit', async () => {
  const pushes = Array.from({ length: 10 }, (_, i) => pushOf(3_000 + i));
  const inserts: number[] = [];
  const onQuery = (query: { sql: string }) => {
    if (/^\s*INSERT INTO push_outcomes/i.test(query.sql)) inserts.push(Date.now());
  };
  knex.on('query', onQuery);
  const recorder = startOutcomeRecorder(knex, silent, { lingerMs: 200 });
  const recorded: Array<Promise<void>> = [];
  try {
    // Answers from Singer trickling in, 5 ms apart: 45 ms in all, well inside the linger.
    for (const push of pushes) {
      recorded.push(
        recorder.record({ push, outcome: 'delivered', attempts: 1, singerStatus: 200 }),
      );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(recorded);
  } finally {
    knex.off('query', onQuery);
    await recorder.stop();
  }
  expect(inserts).toHaveLength(1);
  const rows = await rowsByKey();
  for (const push of pushes) expect(rows.get(push.idempotencyKey)?.outcome).toBe('delivered');
});

it('keeps a delivered push delivered, and lets a replayed dead letter become delivered', async () => {
  const delivered = pushOf(2_001);
  const replayed = pushOf(2_002);
  const recorder = startOutcomeRecorder(knex, silent);
  try {
    await recorder.record({
      push: delivered,
      outcome: 'delivered',
      attempts: 2,
      singerStatus: 200,
    });
    await recorder.record({
      push: replayed,
      outcome: 'dead_letter',
      attempts: 1,
      singerStatus: 400,
      reason: 'Singer refused it: 400',
    });
    // A later run of the same job (a duplicate after a crash) that ends as a dead letter
    // cannot undo the delivery: Singer has the push.
    await recorder.record({ push: delivered, outcome: 'dead_letter', attempts: 3, reason: 'late' });
    await recorder.record({ push: replayed, outcome: 'delivered', attempts: 1, singerStatus: 200 });
  } finally {
    await recorder.stop();
  }

  const rows = await rowsByKey();
  expect(rows.get(delivered.idempotencyKey)).toMatchObject({
    outcome: 'delivered',
    attempts: 2,
    reason: null,
  });
  expect(rows.get(replayed.idempotencyKey)).toMatchObject({
    outcome: 'delivered',
    singer_status: 200,
  });
});

it('holds an outcome while MySQL refuses it, and writes it once MySQL takes it again', async () => {
  const push = pushOf(3_001);
  const recorder = startOutcomeRecorder(knex, silent, { retryMaxMs: 100 });
  // The table gone for a moment (what a dropped connection or a failover looks like to the
  // statement: an error, then success).
  await knex.raw('RENAME TABLE push_outcomes TO push_outcomes_away');
  let settled = false;
  const recording = recorder
    .record({ push, outcome: 'delivered', attempts: 1, singerStatus: 200 })
    .then(() => (settled = true));
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(settled).toBe(false);
  } finally {
    await knex.raw('RENAME TABLE push_outcomes_away TO push_outcomes');
  }
  await recording;
  await recorder.stop();
  expect((await rowsByKey()).get(push.idempotencyKey)).toMatchObject({ outcome: 'delivered' });
});

it('rejects what it could not write when stopped, so the job fails its attempt instead of completing', async () => {
  const recorder = startOutcomeRecorder(knex, silent, { retryMaxMs: 50 });
  await knex.raw('RENAME TABLE push_outcomes TO push_outcomes_away');
  try {
    const recording = recorder.record({
      push: pushOf(4_001),
      outcome: 'delivered',
      attempts: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await recorder.stop();
    await expect(recording).rejects.toThrow(/stopped before the outcome of evt-4001-/);
  } finally {
    await knex.raw('RENAME TABLE push_outcomes_away TO push_outcomes');
  }
});
