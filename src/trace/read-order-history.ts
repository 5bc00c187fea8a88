/**
 * What MySQL remembers about one order's pushes: its outbox events, each push's outcome
 * (owed, delivered, dead-lettered) and every delivery attempt. Each query reads an index
 * that starts with order_id (order_events_by_order, push_attempts_by_order) or the
 * outcomes' primary key by the order's event ids, so tracing an old order is cheap — and
 * none of it needs Redis.
 */
import type { Knex } from 'knex';
import { ATTEMPTS_TABLE, OUTBOX_TABLE, OUTCOMES_TABLE } from '../db/migration-context.js';

export interface EventRow {
  eventId: string;
  orderId: string;
  patientId: string | null;
  nurseId: string | null;
  fromStatus: string | null;
  toStatus: string | null;
  fromReason: string | null;
  toReason: string | null;
  createdAt: string;
  /** null while no poller has handed the event to the queue. */
  handedOffAt: string | null;
}

export interface AttemptRow {
  eventId: string;
  idempotencyKey: string;
  scenario: string;
  recipientRole: string;
  recipientId: string | null;
  channel: string;
  attempt: number;
  outcome: 'delivered' | 'retry' | 'dead' | string;
  singerStatus: number | null;
  error: string | null;
  durationMs: number | null;
  attemptedAt: string;
}

export async function readOrderEvents(knex: Knex, orderId: string): Promise<EventRow[]> {
  const rows = (await knex(OUTBOX_TABLE)
    .select(
      'id',
      'order_id',
      'patient_id',
      'nurse_id',
      'from_status',
      'to_status',
      'from_reason',
      'to_reason',
      'created_at',
      'handed_off_at',
    )
    .where('order_id', orderId)
    .orderBy('id')) as Array<Record<string, unknown>>;
  return rows.map((row) => ({
    eventId: String(row.id),
    orderId: String(row.order_id),
    patientId: idOrNull(row.patient_id),
    nurseId: idOrNull(row.nurse_id),
    fromStatus: row.from_status as string | null,
    toStatus: row.to_status as string | null,
    fromReason: row.from_reason as string | null,
    toReason: row.to_reason as string | null,
    createdAt: isoTime(row.created_at) ?? '',
    handedOffAt: isoTime(row.handed_off_at),
  }));
}

/** Every attempt for the order, oldest first; [] when push_attempts does not exist yet. */
export async function readPushAttempts(knex: Knex, orderId: string): Promise<AttemptRow[]> {
  const rows = await rowsUnlessMissing(
    knex(ATTEMPTS_TABLE).where('order_id', orderId).orderBy('id'),
  );
  return rows.map((row) => ({
    eventId: String(row.event_id),
    idempotencyKey: String(row.idempotency_key),
    scenario: String(row.scenario),
    recipientRole: String(row.recipient_role),
    recipientId: idOrNull(row.recipient_id),
    channel: String(row.channel),
    attempt: Number(row.attempt),
    outcome: String(row.outcome),
    singerStatus: row.singer_status === null ? null : Number(row.singer_status),
    error: row.error === null ? null : String(row.error),
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    attemptedAt: isoTime(row.attempted_at) ?? '',
  }));
}

/** A push's row in push_outcomes: handed off, and settled once it has an outcome. */
export interface OutcomeRow {
  eventId: string;
  idempotencyKey: string;
  scenario: string;
  recipientRole: string;
  recipientId: string | null;
  channel: string;
  handedOffAt: string;
  /** null while the push is owed. */
  outcome: 'delivered' | 'dead_letter' | null;
  attempts: number | null;
  singerStatus: number | null;
  reason: string | null;
  settledAt: string | null;
}

/** The outcomes of these events' pushes; [] when push_outcomes does not exist yet. */
export async function readPushOutcomes(knex: Knex, eventIds: string[]): Promise<OutcomeRow[]> {
  if (eventIds.length === 0) return [];
  const rows = await rowsUnlessMissing(
    knex(OUTCOMES_TABLE).whereIn('event_id', eventIds).orderBy(['event_id', 'scenario']),
  );
  return rows.map((row) => ({
    eventId: String(row.event_id),
    idempotencyKey: String(row.idempotency_key),
    scenario: String(row.scenario),
    recipientRole: String(row.recipient_role),
    recipientId: idOrNull(row.recipient_id),
    channel: String(row.channel),
    handedOffAt: isoTime(row.handed_off_at) ?? '',
    outcome: (row.outcome ?? null) as OutcomeRow['outcome'],
    attempts: row.attempts === null ? null : Number(row.attempts),
    singerStatus: row.singer_status === null ? null : Number(row.singer_status),
    reason: row.reason === null ? null : String(row.reason),
    settledAt: isoTime(row.settled_at),
  }));
}

function idOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function isoTime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const date = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}

/** The query's rows; none when its table does not exist yet (a database push never migrated). */
async function rowsUnlessMissing(
  query: Knex.QueryBuilder,
): Promise<Array<Record<string, unknown>>> {
  try {
    return (await query) as Array<Record<string, unknown>>;
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return [];
    throw err;
  }
}
