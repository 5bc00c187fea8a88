/**
 * Dead letters: pushes that will not be retried, with why. MySQL keeps them (a push_outcomes
 * row with outcome 'dead_letter', committed before BullMQ hears the job is done), so a dead
 * letter outlives anything Redis loses, and `push dlq list` / `replay` work from there.
 * Each is also a job in the `dead-letters` queue, id = the push's idempotency key: a view
 * for the dashboard, rebuilt by nothing — after a Redis wipe the dashboard shows fewer than
 * `push dlq list`, never more. A replay sends the push again under the same key, so Singer
 * drops it if it had arrived after all.
 */
import type { Knex } from 'knex';
import {
  listDeadLetters,
  reopenDeadLetter,
  type DeadLetter,
} from '../outcomes/dead-letter-rows.js';
import type { OutcomeRecorder } from '../outcomes/outcome-recorder.js';
import type { PushJob } from '../scenarios/types.js';
import { enqueuePushes } from './enqueue-pushes.js';
import type { PushLedger } from './push-ledger.js';
import type { DeadLetterQueue, DeliveryQueue } from './queues.js';

/** A dead-letter queue entry: a dead letter, or a job that does not parse, kept as it came. */
export type DeadLetterView = Omit<DeadLetter, 'push'> & { push: PushJob | unknown };

/** Adds (or replaces: a push refused again after a replay) its entry in the Redis view. */
export async function addDeadLetterView(
  queue: DeadLetterQueue,
  letter: DeadLetterView,
  key: string,
): Promise<void> {
  const earlier = await queue.getJob(key);
  if (earlier) await earlier.remove();
  const scenario = (letter.push as Partial<PushJob> | undefined)?.scenario;
  await queue.add(scenario ?? 'malformed', letter, { jobId: key });
}

export interface DeadLetterDeps {
  outcomes: OutcomeRecorder;
  deadLetters: DeadLetterQueue;
  ledger: PushLedger;
}

/**
 * Dead-letters a push: its outcome committed to MySQL first, then the dashboard's view,
 * then the end of its order turn, so that order's next push may go.
 */
export async function deadLetterPush(
  deps: DeadLetterDeps,
  push: PushJob,
  letter: Omit<DeadLetter, 'push' | 'deadAt'>,
): Promise<void> {
  await deps.outcomes.record({ push, outcome: 'dead_letter', ...letter });
  await addDeadLetterView(
    deps.deadLetters,
    { push, ...letter, deadAt: new Date().toISOString() },
    push.idempotencyKey,
  );
  await deps.ledger.settle([push]);
}

export interface ReplayDeps {
  knex: Knex;
  ledger: PushLedger;
  deliveries: DeliveryQueue;
  deadLetters: DeadLetterQueue;
}

/**
 * Sends dead letters again with their original idempotency keys, fresh attempts and their
 * order's turn, in event order. Selects by event id (every push of that event), or all
 * when `eventIds` is 'all'. Returns the keys replayed.
 *
 * Each is made owed in MySQL before it is enqueued: if the enqueue fails (Redis down, the
 * command killed), the reconciler hands it to BullMQ once Redis is back. The worker then
 * records its new outcome: delivered, or a dead letter again.
 */
export async function replayDeadLetters(
  deps: ReplayDeps,
  eventIds: string[] | 'all',
): Promise<string[]> {
  const letters = await listDeadLetters(deps.knex, eventIds);
  const replayed: string[] = [];
  for (const { push } of letters) {
    if (!(await reopenDeadLetter(deps.knex, push))) continue;
    const key = push.idempotencyKey;
    // The failed delivery job still holds the id; it must go before the id can be reused.
    const failed = await deps.deliveries.getJob(key);
    if (failed) await failed.remove();
    await enqueuePushes(deps.ledger, deps.deliveries, [{ push }]);
    const entry = await deps.deadLetters.getJob(key);
    if (entry) await entry.remove();
    replayed.push(key);
  }
  return replayed;
}
