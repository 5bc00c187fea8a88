/**
 * Claims the oldest unclaimed outbox rows. `FOR UPDATE SKIP LOCKED` lets any number of
 * pollers run at once: each takes rows no other poller holds, and nobody waits. The rows
 * stay locked until the caller's transaction commits (handed off) or rolls back (free
 * again for the next claim). No watermark on the id: ids commit out of order, so a row
 * with a smaller id may appear after larger ones have been handed off.
 */
import { OUTBOX_TABLE } from '../db/migration-context.js';
import type { OrderEvent } from '../scenarios/types.js';
import type { ClaimConnection } from './claim-connection.js';

/** An order_events row as mysql2 returns it (ids are strings with bigNumberStrings). */
export interface OutboxRow {
  id: string | number;
  order_id: string | number;
  patient_id: string | number | null;
  nurse_id: string | number | null;
  from_status: string | null;
  to_status: string | null;
  from_reason: string | null;
  to_reason: string | null;
  created_at: Date | string;
}

/** Exported so test/db/migrations.test.ts can EXPLAIN exactly what the poller runs. */
export const CLAIM_SQL = `SELECT id, order_id, patient_id, nurse_id, from_status, to_status, from_reason, to_reason, created_at
       FROM ${OUTBOX_TABLE}
      WHERE handed_off_at IS NULL
      ORDER BY id
      LIMIT ?
        FOR UPDATE SKIP LOCKED`;

/**
 * The ids of the first `limit` unstamped rows, whoever holds them: a plain read, sent with
 * the claim, that tells whether the claim skipped anything (defer-out-of-order.ts).
 */
export const WAITING_HEAD_SQL = `SELECT id FROM ${OUTBOX_TABLE}
      WHERE handed_off_at IS NULL
      ORDER BY id
      LIMIT ?`;

export interface Claim {
  events: OrderEvent[];
  /** WAITING_HEAD_SQL's answer, read right after the claim, in id order. */
  waitingHead: string[];
}

/**
 * Opens a transaction, claims in it and reads the head of the backlog, in one round trip;
 * the claimed rows stay locked until the caller commits (markHandedOffAndCommit) or rolls
 * back.
 */
export async function claimBatch(sql: ClaimConnection, limit: number): Promise<Claim> {
  const [, rows, head] = await sql.query<[unknown, OutboxRow[], Array<{ id: string | number }>]>(
    `START TRANSACTION; ${CLAIM_SQL}; ${WAITING_HEAD_SQL}`,
    [limit, limit],
  );
  return { events: rows.map(toOrderEvent), waitingHead: head.map((row) => String(row.id)) };
}

export function toOrderEvent(row: OutboxRow): OrderEvent {
  return {
    eventId: String(row.id),
    orderId: String(row.order_id),
    patientId: row.patient_id === null ? null : String(row.patient_id),
    nurseId: row.nurse_id === null ? null : String(row.nurse_id),
    fromStatus: row.from_status,
    // The trigger copies orders.status, which is NOT NULL in SPEC §2; an order service
    // that allows NULL gets an event that matches no rule rather than a crash here.
    toStatus: row.to_status ?? '',
    fromReason: row.from_reason,
    toReason: row.to_reason,
    occurredAt: new Date(row.created_at).toISOString(),
  };
}
