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
 * Opens a transaction and claims in it, in one round trip; the rows stay locked until the
 * caller commits (markHandedOffAndCommit) or rolls back.
 */
export async function claimBatch(sql: ClaimConnection, limit: number): Promise<OrderEvent[]> {
  const [, rows] = await sql.query<[unknown, OutboxRow[]]>(`START TRANSACTION; ${CLAIM_SQL}`, [
    limit,
  ]);
  return rows.map(toOrderEvent);
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
