/**
 * "Did the patient get told?": one order's events, the pushes each one produced (matched
 * again with the worker's own matchEvent), every delivery attempt, and where each push
 * stands now. MySQL keeps the history (order_events, push_attempts) and each push's
 * outcome (push_outcomes: owed, delivered or dead-lettered), which settles the answer
 * whatever Redis kept; Redis adds what an owed push is doing (queued, retrying, sending).
 */
import type { ScenarioCatalog } from '../scenarios/catalog.js';
import { matchEvent } from '../scenarios/match-event.js';
import type { OrderEvent } from '../scenarios/types.js';
import type { AttemptRow, EventRow, OutcomeRow } from './read-order-history.js';

/** BullMQ's job states, plus `unknown` when the queue holds no such job. */
export type JobState =
  | 'completed'
  | 'failed'
  | 'delayed'
  | 'active'
  | 'waiting'
  | 'waiting-children'
  | 'prioritized'
  | 'unknown';

export interface QueueStates {
  /** The push's job in the deliveries queue. */
  delivery: JobState;
  /** Its entry in the dead-letters queue (`waiting` while it awaits a replay). */
  deadLetter: JobState;
}

export type PushState =
  | 'delivered'
  | 'dead-lettered'
  | 'retrying'
  | 'sending'
  | 'waiting'
  | 'waiting for the poller'
  | 'unknown';

export type TracedAttempt = Pick<
  AttemptRow,
  'attempt' | 'outcome' | 'singerStatus' | 'error' | 'durationMs' | 'attemptedAt'
>;

export interface TracedPush {
  idempotencyKey: string;
  scenario: string;
  recipient: string;
  channel: string;
  /** false for a push found only in push_attempts: today's scenarios would not produce it. */
  derivedNow: boolean;
  attempts: TracedAttempt[];
  /** Its outcome as MySQL recorded it; null when it was never recorded as handed off. */
  outcome: Pick<
    OutcomeRow,
    'outcome' | 'handedOffAt' | 'settledAt' | 'attempts' | 'singerStatus' | 'reason'
  > | null;
  queue: QueueStates | null;
  state: PushState;
  /** The state in a sentence, with the time and the reason where known. */
  explanation: string;
}

export interface TracedEvent extends EventRow {
  /** Set when a status is not in the scenario file: then no rule matched. */
  unknownStatuses: string[];
  pushes: TracedPush[];
}

export interface OrderTrace {
  orderId: string;
  events: TracedEvent[];
  /** Why the queue states are missing, when Redis could not be asked. */
  queueProblem: string | null;
}

export function pushKeysOf(
  events: EventRow[],
  attempts: AttemptRow[],
  outcomes: OutcomeRow[],
  catalog: ScenarioCatalog,
): string[] {
  const keys = new Set([...attempts, ...outcomes].map((a) => a.idempotencyKey));
  for (const event of events) {
    for (const push of matchEvent(toOrderEvent(event), catalog).pushes)
      keys.add(push.idempotencyKey);
  }
  return [...keys];
}

export function buildOrderTrace(
  orderId: string,
  events: EventRow[],
  attempts: AttemptRow[],
  outcomes: OutcomeRow[],
  catalog: ScenarioCatalog,
  queueStates: ReadonlyMap<string, QueueStates> | undefined,
  queueProblem: string | null,
): OrderTrace {
  const traced = events.map((event): TracedEvent => {
    const match = matchEvent(toOrderEvent(event), catalog);
    const ofEvent = attempts.filter((a) => a.eventId === event.eventId);
    const outcomeOf = (key: string) =>
      outcomes.find((o) => o.eventId === event.eventId && o.idempotencyKey === key) ?? null;
    const pushes: TracedPush[] = match.pushes.map((push) => {
      const to = push.recipient;
      return tracePush(
        {
          idempotencyKey: push.idempotencyKey,
          scenario: push.scenario,
          recipient: to.pool === true ? 'nurse pool' : `${to.role} ${to.id ?? '(none)'}`,
          channel: push.channel,
          derivedNow: true,
        },
        event,
        ofEvent.filter((a) => a.idempotencyKey === push.idempotencyKey),
        outcomeOf(push.idempotencyKey),
        queueStates?.get(push.idempotencyKey) ?? null,
      );
    });
    // Pushes the current scenario file no longer produces (it changed since), as their
    // outcome row or their first attempt describes them.
    const recorded = [...outcomes.filter((o) => o.eventId === event.eventId), ...ofEvent];
    for (const key of new Set(recorded.map((r) => r.idempotencyKey))) {
      if (pushes.some((p) => p.idempotencyKey === key)) continue;
      const first = recorded.find((r) => r.idempotencyKey === key);
      if (!first) continue;
      pushes.push(
        tracePush(
          {
            idempotencyKey: key,
            scenario: first.scenario,
            recipient:
              first.recipientId === 'pool'
                ? 'nurse pool'
                : `${first.recipientRole} ${first.recipientId ?? '(none)'}`,
            channel: first.channel,
            derivedNow: false,
          },
          event,
          ofEvent.filter((a) => a.idempotencyKey === key),
          outcomeOf(key),
          queueStates?.get(key) ?? null,
        ),
      );
    }
    return { ...event, unknownStatuses: match.unknownStatuses, pushes };
  });
  return { orderId, events: traced, queueProblem };
}

type PushHead = Pick<
  TracedPush,
  'idempotencyKey' | 'scenario' | 'recipient' | 'channel' | 'derivedNow'
>;

function tracePush(
  head: PushHead,
  event: EventRow,
  attempts: AttemptRow[],
  outcome: OutcomeRow | null,
  queue: QueueStates | null,
): TracedPush {
  const { state, explanation } = judge(event, attempts, outcome, queue);
  return {
    ...head,
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      outcome: a.outcome,
      singerStatus: a.singerStatus,
      error: a.error,
      durationMs: a.durationMs,
      attemptedAt: a.attemptedAt,
    })),
    outcome: outcome && {
      outcome: outcome.outcome,
      handedOffAt: outcome.handedOffAt,
      settledAt: outcome.settledAt,
      attempts: outcome.attempts,
      singerStatus: outcome.singerStatus,
      reason: outcome.reason,
    },
    queue,
    state,
    explanation,
  };
}

/**
 * The outcome MySQL recorded settles it; then a delivered attempt (Singer drops repeats,
 * so later replays change nothing); otherwise the dead-letter queue, then the delivery
 * job, then the last attempt decide.
 */
function judge(
  event: EventRow,
  attempts: AttemptRow[],
  outcome: OutcomeRow | null,
  queue: QueueStates | null,
): { state: PushState; explanation: string } {
  const delivered = attempts.find((a) => a.outcome === 'delivered');
  const last = attempts.at(-1);
  const lastFailure = last?.error ? `: ${last.error}` : '';
  const replay = `; resend with \`npx push dlq replay ${event.eventId}\``;
  if (outcome?.outcome === 'delivered') {
    return {
      state: 'delivered',
      explanation: `delivered at ${outcome.settledAt} (attempt ${outcome.attempts})`,
    };
  }
  if (outcome?.outcome === 'dead_letter') {
    return {
      state: 'dead-lettered',
      explanation: `dead-lettered at ${outcome.settledAt}: ${outcome.reason}${replay}`,
    };
  }
  if (delivered) {
    return {
      state: 'delivered',
      explanation: `delivered at ${delivered.attemptedAt} (attempt ${delivered.attempt})`,
    };
  }
  if (queue && queue.deadLetter !== 'unknown' && queue.deadLetter !== 'completed') {
    return { state: 'dead-lettered', explanation: `dead-lettered${lastFailure}${replay}` };
  }
  switch (queue?.delivery) {
    case 'completed':
      return {
        state: 'delivered',
        explanation: 'delivered (per the queue; no attempt was recorded)',
      };
    case 'failed':
      return {
        state: 'dead-lettered',
        explanation: `failed${lastFailure}; not in the dead-letter queue (replayed or discarded?)`,
      };
    case 'active':
      return { state: 'sending', explanation: 'being sent to Singer right now' };
    case 'delayed':
      return last
        ? {
            state: 'retrying',
            explanation: `retrying: attempt ${last.attempt} failed${lastFailure}`,
          }
        : {
            state: 'waiting',
            explanation: 'waiting for its turn behind an earlier push of this order',
          };
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return { state: 'waiting', explanation: 'waiting in the queue for a worker' };
    default:
      break;
  }
  if (last?.outcome === 'dead') {
    return { state: 'dead-lettered', explanation: `dead-lettered${lastFailure}${replay}` };
  }
  if (event.handedOffAt === null) {
    return {
      state: 'waiting for the poller',
      explanation: 'not handed to the queue yet: waiting for a poller',
    };
  }
  if (last) {
    return {
      state: 'retrying',
      explanation: `attempt ${last.attempt} failed${lastFailure}; the queue state is unknown`,
    };
  }
  if (outcome && queue) {
    return {
      state: 'waiting',
      explanation: `owed since ${outcome.handedOffAt}, and Redis no longer holds its job: the reconciler hands it to BullMQ again (RECONCILE_AFTER_S)`,
    };
  }
  return {
    state: 'unknown',
    explanation: queue
      ? 'no attempt recorded and the queue no longer holds it (completed jobs are kept COMPLETED_JOB_RETENTION_S)'
      : 'handed to the queue; no attempt recorded yet, and the queue could not be asked',
  };
}

export function toOrderEvent(row: EventRow): OrderEvent {
  return {
    eventId: row.eventId,
    orderId: row.orderId,
    patientId: row.patientId,
    nurseId: row.nurseId,
    fromStatus: row.fromStatus,
    // As the poller does: a NULL status matches no rule rather than crashing.
    toStatus: row.toStatus ?? '',
    fromReason: row.fromReason,
    toReason: row.toReason,
    occurredAt: row.createdAt,
  };
}
