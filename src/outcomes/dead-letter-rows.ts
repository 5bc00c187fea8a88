/**
 * The dead letters as MySQL keeps them: push_outcomes rows whose outcome is 'dead_letter',
 * read with their outbox events (retention keeps the event of a dead letter until it is
 * replayed and delivered), and reopened — owed again — when an operator replays them.
 * Both read push_outcomes_by_state or the primary key; neither depends on Redis.
 */
import type { Knex } from 'knex';
import { OUTBOX_TABLE, OUTCOMES_TABLE } from '../db/migration-context.js';
import type { PushJob } from '../scenarios/types.js';
import { OUTCOME_EVENT_COLUMNS, pushJobOf, type OutcomeEventRow } from './outcome-rows.js';

export interface DeadLetter {
  push: PushJob;
  reason: string;
  attempts: number;
  singerStatus?: number;
  singerBody?: string;
  /** ISO-8601 time it was dead-lettered. */
  deadAt: string;
}

type DeadLetterRow = OutcomeEventRow & {
  attempts: number | null;
  singer_status: number | null;
  reason: string | null;
  singer_body: string | null;
  settled_at: Date | string;
};

/** Every dead letter, or those of the given events, in event order. */
export async function listDeadLetters(
  knex: Knex,
  eventIds: readonly string[] | 'all' = 'all',
): Promise<DeadLetter[]> {
  if (eventIds !== 'all' && eventIds.length === 0) return [];
  const ofEvents =
    eventIds === 'all' ? '' : `AND p.event_id IN (${eventIds.map(() => '?').join(',')})`;
  const [rows] = (await knex.raw(
    `SELECT ${OUTCOME_EVENT_COLUMNS}, p.attempts, p.singer_status, p.reason, p.singer_body, p.settled_at
       FROM ${OUTCOMES_TABLE} p JOIN ${OUTBOX_TABLE} e ON e.id = p.event_id
      WHERE p.outcome = 'dead_letter' ${ofEvents}
      ORDER BY p.event_id, p.scenario`,
    eventIds === 'all' ? [] : [...eventIds],
  )) as [DeadLetterRow[]];
  return rows.map((row) => ({
    push: pushJobOf(row),
    reason: row.reason ?? '',
    attempts: Number(row.attempts ?? 0),
    ...(row.singer_status === null ? {} : { singerStatus: Number(row.singer_status) }),
    ...(row.singer_body === null ? {} : { singerBody: row.singer_body }),
    deadAt: new Date(row.settled_at).toISOString(),
  }));
}

/**
 * Makes a dead letter owed again, as handed off now, for a replay. False when it is no
 * longer a dead letter (another replay took it, or it was delivered meanwhile).
 */
export async function reopenDeadLetter(knex: Knex, push: PushJob): Promise<boolean> {
  const [result] = (await knex.raw(
    `UPDATE ${OUTCOMES_TABLE}
        SET outcome = NULL, settled_at = NULL, handed_off_at = CURRENT_TIMESTAMP(3)
      WHERE event_id = ? AND scenario = ? AND outcome = 'dead_letter'`,
    [push.event.eventId, push.scenario],
  )) as [{ affectedRows: number }];
  return result.affectedRows === 1;
}
