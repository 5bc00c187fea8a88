// The reconciler's, the metrics', retention's and `push dlq`'s queries on a large
// push_outcomes table that is mostly delivered, as a live one is: each reads an index range
// or primary keys — never the table — and, run for real, reads about as many rows as it
// returns (EXPLAIN, then ANALYZE of the exact SQL src/ sends).
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_ORDER_COLUMNS,
  migrationContextOf,
  OUTBOX_TABLE,
  OUTCOMES_TABLE,
} from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { readerOf } from '../../src/db/schema-session.js';
import { countUnfinishedEvents } from '../../src/outbox/count-unfinished-events.js';
import { deleteExpired } from '../../src/outbox/retention.js';
import { listDeadLetters } from '../../src/outcomes/dead-letter-rows.js';
import {
  countSql,
  owedOfOrdersSql,
  owedPage,
  owedPageQuery,
} from '../../src/outcomes/owed-pushes.js';
import { explain, planFor, rowsRead } from '../support/query-plan.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const ORDERS = 2_000;
const EVENTS = 20_000; // ten per order, one push each
const OWED_OLD = 120; // owed for an hour: what the reconciler looks at
const OWED_YOUNG = 30; // owed for a second: in flight
const DEAD = 40;
const PAGE = 50;

let db: TestDatabase;
let knex: Knex;
let firstEventId: number;

beforeAll(async () => {
  db = await createTestDatabase('outcome-queries');
  knex = db.knex;
  await createOrderServiceTables(knex);
  await migrateLatest(
    knex,
    migrationContextOf({ ordersTable: 'orders', orderColumns: DEFAULT_ORDER_COLUMNS }),
  );
  // Events oldest first; the newest OWED_YOUNG are in flight, the OWED_OLD and DEAD before
  // them are owed or dead-lettered, everything else was delivered.
  const now = Date.now();
  const [[{ base }]] = (await knex.raw(
    `SELECT AUTO_INCREMENT AS base FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [OUTBOX_TABLE],
  )) as [[{ base: number | string }]];
  firstEventId = Number(base);
  const stateOf = (i: number): 'delivered' | 'dead_letter' | null => {
    if (i >= EVENTS - OWED_YOUNG) return null;
    if (i >= EVENTS - OWED_YOUNG - OWED_OLD) return null;
    if (i >= EVENTS - OWED_YOUNG - OWED_OLD - DEAD) return 'dead_letter';
    return 'delivered';
  };
  const handedOffAt = (i: number) =>
    new Date(i >= EVENTS - OWED_YOUNG ? now - 1_000 : now - 3_600_000 - (EVENTS - i) * 100);
  for (let from = 0; from < EVENTS; from += 1_000) {
    const slice = Array.from({ length: Math.min(1_000, EVENTS - from) }, (_, k) => from + k);
    await knex(OUTBOX_TABLE).insert(
      slice.map((i) => ({
        id: firstEventId + i,
        order_id: 1 + (i % ORDERS),
        patient_id: 98,
        nurse_id: 7,
        from_status: 'IN_SERVICE',
        to_status: 'SERVICE_DONE',
        handed_off_at: handedOffAt(i),
      })),
    );
    await knex(OUTCOMES_TABLE).insert(
      slice.map((i) => {
        const outcome = stateOf(i);
        return {
          event_id: firstEventId + i,
          scenario: 'SERVICE_COMPLETED',
          idempotency_key: `evt-${firstEventId + i}-SERVICE_COMPLETED`,
          order_id: 1 + (i % ORDERS),
          recipient_role: 'patient',
          recipient_id: '98',
          channel: 'wechat',
          handed_off_at: handedOffAt(i),
          outcome,
          attempts: outcome === null ? null : 1,
          reason: outcome === 'dead_letter' ? 'Singer refused it: 400' : null,
          settled_at: outcome === null ? null : handedOffAt(i),
        };
      }),
    );
  }
  await knex.raw(`ANALYZE TABLE ${OUTBOX_TABLE}, ${OUTCOMES_TABLE}`);
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

const bySortOrTemporary = /Using filesort|Using temporary/;

describe('the reconciler', () => {
  it('reads a page of old owed pushes from push_outcomes_by_state, in order, without a sort', async () => {
    const [sql, bindings] = owedPageQuery(60, undefined, PAGE);

    const row = planFor(await explain(knex, sql, bindings), OUTCOMES_TABLE);

    expect(row).toMatchObject({ key: 'push_outcomes_by_state', type: 'range' });
    expect(row.Extra ?? '').not.toMatch(bySortOrTemporary);
    expect(await rowsRead(knex, sql, bindings, OUTCOMES_TABLE)).toBeLessThanOrEqual(PAGE);
  });

  it('starts the next page where the last one ended, reading only that page', async () => {
    const first = await owedPage(knex, 60, undefined, PAGE);
    const last = first.at(-1);
    if (!last) throw new Error('no owed pushes');
    const cursor = {
      handedOffAt: last.handedOffAt,
      eventId: last.eventId,
      scenario: last.scenario,
    };
    const [sql, bindings] = owedPageQuery(60, cursor, PAGE);

    const row = planFor(await explain(knex, sql, bindings), OUTCOMES_TABLE);
    const second = await owedPage(knex, 60, cursor, PAGE);
    const third = await owedPage(knex, 60, second.at(-1) && { ...second.at(-1)! }, PAGE);

    expect(row).toMatchObject({ key: 'push_outcomes_by_state', type: 'range' });
    expect(row.Extra ?? '').not.toMatch(bySortOrTemporary);
    expect(await rowsRead(knex, sql, bindings, OUTCOMES_TABLE)).toBeLessThanOrEqual(PAGE + 1);
    // Three pages: every old owed push once, in hand-off order, and none in flight.
    const keys = [...first, ...second, ...third].map((p) => p.idempotencyKey);
    expect(keys).toHaveLength(OWED_OLD);
    expect(new Set(keys).size).toBe(OWED_OLD);
    const times = [...first, ...second, ...third].map((p) => p.handedOffAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('costs one empty index range when nothing is owed for that long', async () => {
    const [sql, bindings] = owedPageQuery(30 * 24 * 3600, undefined, PAGE);

    expect(planFor(await explain(knex, sql, bindings), OUTCOMES_TABLE).key).toBe(
      'push_outcomes_by_state',
    );
    expect(await rowsRead(knex, sql, bindings, OUTCOMES_TABLE)).toBe(0);
  });

  it("reads a lost push's orders' owed pushes by index: the owed range or those orders' history", async () => {
    const orders = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
    const sql = owedOfOrdersSql(orders.length);

    const plan = await explain(knex, sql, orders);

    // MariaDB 10.11 starts from the 150 owed pushes here (push_outcomes_by_state, then each
    // one's event by primary key); with more owed than the orders' history it starts from
    // order_events_by_order instead. Either way: indexes, and about as many rows as the
    // smaller of the two.
    for (const row of plan) expect(row.type, JSON.stringify(row)).not.toBe('ALL');
    expect(['push_outcomes_by_state', 'PRIMARY']).toContain(planFor(plan, 'p').key);
    expect(['order_events_by_order', 'PRIMARY']).toContain(planFor(plan, 'e').key);
    const bound = Math.max(OWED_OLD + OWED_YOUNG, orders.length * (EVENTS / ORDERS));
    expect(await rowsRead(knex, sql, orders, 'p')).toBeLessThanOrEqual(bound);
    expect(await rowsRead(knex, sql, orders, 'e')).toBeLessThanOrEqual(bound);
  });
});

describe('the metrics', () => {
  it.each([
    ['owed', OWED_OLD + OWED_YOUNG],
    ['dead_letter', DEAD],
  ] as const)('counts %s pushes from push_outcomes_by_state alone', async (state, expected) => {
    const sql = countSql(state);

    const row = planFor(await explain(knex, sql, []), OUTCOMES_TABLE);

    expect(row).toMatchObject({ key: 'push_outcomes_by_state' });
    expect(row.Extra ?? '').toContain('Using index');
    expect(await rowsRead(knex, sql, [], OUTCOMES_TABLE)).toBe(expected);
    const [[{ n }]] = (await knex.raw(sql)) as [[{ n: number | string }]];
    expect(Number(n)).toBe(expected);
  });
});

describe('push migrate --down', () => {
  it('counts an event handed off with a push still owed as unfinished, read from the index alone', async () => {
    const sql = `SELECT COUNT(DISTINCT event_id) AS n FROM ${OUTCOMES_TABLE} WHERE outcome IS NULL`;

    const row = planFor(await explain(knex, sql, []), OUTCOMES_TABLE);

    expect(row.key).toBe('push_outcomes_by_state');
    expect(row.Extra ?? '').toContain('Using index');
    // Every event is handed off; each owed push is one event's.
    expect(await countUnfinishedEvents(readerOf(knex))).toBe(OWED_OLD + OWED_YOUNG);
  });
});

describe('push dlq and retention', () => {
  /** Every SELECT `run` sends, with its bindings, as knex reports them. */
  async function selectsOf(run: () => Promise<unknown>) {
    const seen: Array<{ sql: string; bindings: Knex.Value[] }> = [];
    const onQuery = (query: { sql: string; bindings?: Knex.Value[] }) => {
      if (/^\s*SELECT/i.test(query.sql))
        seen.push({ sql: query.sql, bindings: query.bindings ?? [] });
    };
    knex.on('query', onQuery);
    try {
      await run();
    } finally {
      knex.off('query', onQuery);
    }
    return seen;
  }

  it('lists the dead letters from push_outcomes_by_state', async () => {
    let letters = 0;
    const [select] = await selectsOf(async () => {
      letters = (await listDeadLetters(knex)).length;
    });
    if (!select) throw new Error('listDeadLetters sent no SELECT');

    const plan = await explain(knex, select.sql, select.bindings);

    expect(letters).toBe(DEAD);
    expect(planFor(plan, 'p').key).toBe('push_outcomes_by_state');
    expect(planFor(plan, 'e').key).toBe('PRIMARY');
    expect(await rowsRead(knex, select.sql, select.bindings, 'p')).toBe(DEAD);
  });

  it("finds retention's candidates through indexes, not by reading the tables", async () => {
    // A cutoff that makes nothing expire: the statements are only looked at here.
    const selects = await selectsOf(() =>
      deleteExpired(knex, new Date(Date.now() - 30 * 86_400_000), 1_000, { pauseMs: 1 }),
    );

    expect(selects.length).toBeGreaterThanOrEqual(3);
    for (const { sql, bindings } of selects) {
      for (const row of await explain(knex, sql, bindings)) {
        expect(row.type, `${sql}\n${JSON.stringify(row)}`).not.toBe('ALL');
        expect(row.Extra ?? '', sql).not.toMatch(bySortOrTemporary);
      }
    }
    const outcomes = selects.find((s) => s.sql.includes(OUTCOMES_TABLE));
    if (!outcomes) throw new Error('retention did not look at push_outcomes');
    expect(planFor(await explain(knex, outcomes.sql, outcomes.bindings), OUTCOMES_TABLE).key).toBe(
      'push_outcomes_by_state',
    );
  });
});
