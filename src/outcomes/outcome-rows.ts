/**
 * push_outcomes rows, mapped once (migrations/20261201_101_push_outcomes.ts): a push's row
 * is written from its PushJob when the poller hands it off, and a PushJob is rebuilt from
 * the row and its outbox event when the push must go to BullMQ again (a reconciliation, a
 * dead-letter replay) — from what MySQL holds, never from Redis, and without the scenario
 * file, which may have changed since.
 */
import { OUTCOMES_TABLE } from '../db/migration-context.js';
import { toOrderEvent, type OutboxRow } from '../outbox/claim-batch.js';
import type { Channel, PushJob, Recipient, RecipientRole } from '../scenarios/types.js';

/** `outcome` of a push_outcomes row: NULL while the push is owed. */
export type Outcome = 'delivered' | 'dead_letter';

/** The columns that say which push a row is, as the poller writes them. */
export interface PushIdentity {
  event_id: string;
  scenario: string;
  idempotency_key: string;
  order_id: string;
  recipient_role: RecipientRole;
  /** The recipient's id; 'pool' for the nurse pool; NULL when the order has no such party. */
  recipient_id: string | null;
  channel: Channel;
}

/** Who a push is for and under which key: the columns the poller writes when it hands off. */
export const IDENTITY_COLUMNS = [
  'event_id',
  'scenario',
  'idempotency_key',
  'order_id',
  'recipient_role',
  'recipient_id',
  'channel',
] as const satisfies ReadonlyArray<keyof PushIdentity>;

export function identityOf(push: PushJob): PushIdentity {
  const to = push.recipient;
  return {
    event_id: push.event.eventId,
    scenario: push.scenario,
    idempotency_key: push.idempotencyKey,
    order_id: push.event.orderId,
    recipient_role: to.role,
    recipient_id: 'pool' in to && to.pool ? 'pool' : (to as { id: string | null }).id,
    channel: push.channel,
  };
}

/**
 * Primary-key order (event id, then scenario: ascii_bin, so byte order). Statements that
 * lock many rows lock them in this order, so the poller's INSERT and the worker's upsert
 * never wait for each other in a cycle.
 */
export function byPrimaryKey(a: PushIdentity, b: PushIdentity): number {
  const byEvent = BigInt(a.event_id) - BigInt(b.event_id);
  if (byEvent !== 0n) return byEvent < 0n ? -1 : 1;
  return a.scenario < b.scenario ? -1 : a.scenario > b.scenario ? 1 : 0;
}

/**
 * The poller's record that these pushes are owed, sent in its commit's round trip. A row
 * that exists already is left alone: the worker may have delivered the push (and written
 * its outcome) before the poller's transaction committed, or an earlier claim of the same
 * events enqueued it before it died.
 */
export function insertOwedSql(pushes: PushJob[]): { sql: string; values: unknown[] } {
  const rows = pushes.map(identityOf).sort(byPrimaryKey);
  const tuple = `(${IDENTITY_COLUMNS.map(() => '?').join(',')})`;
  return {
    sql: `INSERT INTO ${OUTCOMES_TABLE} (${IDENTITY_COLUMNS.join(', ')})
      VALUES ${rows.map(() => tuple).join(',')}
      ON DUPLICATE KEY UPDATE event_id = event_id`,
    values: rows.flatMap((row) => IDENTITY_COLUMNS.map((column) => row[column])),
  };
}

/**
 * The columns of an outcome row joined to its outbox event that pushJobOf needs. Readers
 * select `OUTCOME_EVENT_COLUMNS` from `push_outcomes p JOIN order_events e`.
 */
export const OUTCOME_EVENT_COLUMNS = `p.event_id, p.scenario, p.idempotency_key, p.order_id,
       p.recipient_role, p.recipient_id, p.channel,
       e.id, e.patient_id, e.nurse_id, e.from_status, e.to_status, e.from_reason, e.to_reason,
       e.created_at`;

export type OutcomeEventRow = Omit<PushIdentity, 'event_id' | 'order_id'> &
  OutboxRow & { event_id: string | number; order_id: string | number };

/** The push as the poller handed it off, from its row and its outbox event. */
export function pushJobOf(row: OutcomeEventRow): PushJob {
  const recipient: Recipient =
    row.recipient_id === 'pool'
      ? { role: 'nurse', pool: true }
      : {
          role: row.recipient_role,
          id: row.recipient_id === null ? null : String(row.recipient_id),
        };
  return {
    idempotencyKey: row.idempotency_key,
    scenario: row.scenario,
    event: toOrderEvent(row),
    recipient,
    channel: row.channel,
  };
}
