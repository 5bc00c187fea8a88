/**
 * (1) What push's trigger costs the order service: UPDATE throughput on `orders` with and
 * without the trigger, with 1 and 8 connections, for updates that change the status (the
 * trigger writes an outbox row) and updates that change neither status nor reason (the
 * trigger only compares). Each connection sends single-row autocommit UPDATEs on random
 * orders as fast as the server answers.
 *
 * Identical databases on the same server are measured in alternating half-second slices:
 * one with push's trigger, one without any, one with an empty trigger (`BEGIN END`: what
 * MySQL charges for having a trigger at all, the floor no trigger body can go below), and
 * one with an inert trigger — push's, whose condition never holds. MySQL opens and locks
 * every table a trigger *could* write before the UPDATE runs ("prelocking"), so the inert
 * trigger costs what push's costs an update that writes no outbox row, and the gap
 * between it and the empty one is the price of naming `order_events` at all. A fifth, the
 * tableless trigger, is push's with the INSERT replaced by a session variable: the same
 * comparison, no table to prelock; for updates that change neither status nor reason it
 * differs from push's trigger by the prelocking alone. Slices
 * alternate so that the noise of a shared machine falls on all of them alike instead of on
 * whichever ran last.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import {
  clearPushTables,
  createBenchDatabase,
  insertOrders,
  pushTriggerSql,
  setTrigger,
  type BenchDatabase,
} from './bench-database.js';
import { monotonicMs } from './clock.js';
import { TRIGGER_NAME } from '../src/db/order-trigger.js';

export type UpdateKind = 'status' | 'other';
/**
 * push's trigger, no trigger, a trigger that does nothing, push's never writing, push's
 * writing a session variable instead of the outbox.
 */
export type TriggerVariant = 'push' | 'none' | 'empty' | 'inert' | 'tableless';
const VARIANTS: readonly TriggerVariant[] = ['push', 'none', 'empty', 'inert', 'tableless'];

export interface TriggerCostRun {
  kind: UpdateKind;
  connections: number;
  trigger: TriggerVariant;
  updatesPerSecond: number;
}

const STATEMENTS: Record<UpdateKind, string> = {
  // Always a change: IN_SERVICE ↔ SERVICE_OVERDUE.
  status: `UPDATE orders SET status = IF(status = 'IN_SERVICE', 'SERVICE_OVERDUE', 'IN_SERVICE') WHERE id = ?`,
  // Touches neither status nor status_reason (the row still changes, so the trigger runs).
  other: 'UPDATE orders SET amount_cents = amount_cents + 1 WHERE id = ?',
};

const SLICE_S = 0.5;
const WARM_UP_S = 0.5;
const MAX_CONNECTIONS = 8;

interface Side {
  trigger: TriggerVariant;
  db: BenchDatabase;
  connections: Connection[];
  ids: { firstId: number; lastId: number };
}

export async function measureTriggerCost(
  serverUrl: string,
  databaseName: string,
  settings: { seconds: number; orders: number; runs: number },
  onRun?: (run: TriggerCostRun) => void,
): Promise<TriggerCostRun[]> {
  const sides: Side[] = [];
  const results: TriggerCostRun[] = [];
  try {
    for (const trigger of VARIANTS) {
      const db = await createBenchDatabase(serverUrl, `${databaseName}_${trigger}`);
      const side: Side = { trigger, db, connections: [], ids: { firstId: 0, lastId: 0 } };
      sides.push(side);
      await setTrigger(db.knex, trigger === 'push');
      if (trigger === 'empty')
        await db.knex.raw(
          'CREATE TRIGGER bench_empty_trigger AFTER UPDATE ON orders FOR EACH ROW BEGIN END',
        );
      if (trigger === 'inert') await db.knex.raw(inertTriggerSql(await pushTriggerSql(db.knex)));
      if (trigger === 'tableless')
        await db.knex.raw(tablelessTriggerSql(await pushTriggerSql(db.knex)));
      side.ids = await insertOrders(db.knex, settings.orders);
      side.connections = await Promise.all(
        Array.from({ length: MAX_CONNECTIONS }, () => createConnection({ uri: db.url })),
      );
    }
    const slices = Math.max(1, Math.round(settings.seconds / SLICE_S));
    for (let run = 0; run < settings.runs; run++) {
      for (const kind of ['status', 'other'] as const) {
        for (const count of [1, MAX_CONNECTIONS]) {
          const done = new Map<TriggerVariant, number>(VARIANTS.map((v) => [v, 0]));
          for (const side of sides) await hammer(side, count, STATEMENTS[kind], WARM_UP_S);
          for (let slice = 0; slice < slices; slice++) {
            // Rotate who goes first, so no side always follows the same neighbour.
            const shift = (slice + run) % sides.length;
            const order = [...sides.slice(shift), ...sides.slice(0, shift)];
            for (const side of order) {
              done.set(
                side.trigger,
                done.get(side.trigger)! + (await hammer(side, count, STATEMENTS[kind], SLICE_S)),
              );
            }
          }
          for (const trigger of VARIANTS) {
            const result = {
              kind,
              connections: count,
              trigger,
              updatesPerSecond: done.get(trigger)! / (slices * SLICE_S),
            };
            results.push(result);
            onRun?.(result);
          }
          // The outbox grows by thousands of rows a second here; keep it from weighing on later runs.
          for (const side of sides) await clearPushTables(side.db.knex);
        }
      }
    }
  } finally {
    for (const side of sides) {
      await Promise.all(side.connections.map((c) => c.end()));
      await side.db.drop();
    }
  }
  return results;
}

/** Runs UPDATEs on `count` connections for `seconds`; returns how many completed in time. */
async function hammer(side: Side, count: number, sql: string, seconds: number): Promise<number> {
  const { firstId, lastId } = side.ids;
  const span = lastId - firstId + 1;
  const endAt = monotonicMs() + seconds * 1000;
  let completed = 0;
  await Promise.all(
    side.connections.slice(0, count).map(async (connection) => {
      while (monotonicMs() < endAt) {
        await connection.query(sql, [firstId + Math.floor(Math.random() * span)]);
        if (monotonicMs() <= endAt) completed += 1;
      }
    }),
  );
  return completed;
}

/** push's trigger with a condition that never holds (an order's id is never NULL). */
function inertTriggerSql(pushTrigger: string): string {
  return pushTrigger
    .replace(TRIGGER_NAME, 'bench_inert_trigger')
    .replace(/\bIF\b[\s\S]*?\bTHEN\b/, 'IF NEW.`id` IS NULL THEN');
}

/** push's trigger with a session variable where the outbox INSERT was: nothing to prelock. */
function tablelessTriggerSql(pushTrigger: string): string {
  return pushTrigger
    .replace(TRIGGER_NAME, 'bench_tableless_trigger')
    .replace(/\bINSERT INTO\b[\s\S]*?\);/, 'SET @bench_tableless = NEW.`id`;');
}
