/**
 * `push dlq list [--json]` and `push dlq replay <eventId…> | --all`. The dead letters are
 * read from MySQL (push_outcomes), so `list` needs no Redis and shows every dead letter
 * whatever Redis lost; `replay` needs both.
 */
import type { Config } from '../config.js';
import { assertDatabaseReachable, connectDatabase } from '../db/connect-database.js';
import { replayDeadLetters, type ReplayDeps } from '../delivery/dead-letter.js';
import { pushLedger } from '../delivery/push-ledger.js';
import { openDeadLetterQueue, openDeliveryQueue } from '../delivery/queues.js';
import {
  assertQueuesUsable,
  assertRedisReachable,
  connectRedis,
} from '../redis/redis-connection.js';
import { listDeadLetters, type DeadLetter } from '../outcomes/dead-letter-rows.js';
import { UsageError } from '../plain-error.js';

async function withDatabase<T>(
  config: Config,
  use: (knex: ReplayDeps['knex']) => Promise<T>,
): Promise<T> {
  const knex = connectDatabase(config.databaseUrl, 2);
  try {
    await assertDatabaseReachable(knex, config.databaseUrl);
    return await use(knex);
  } finally {
    await knex.destroy();
  }
}

async function withQueues<T>(config: Config, use: (deps: ReplayDeps) => Promise<T>): Promise<T> {
  return withDatabase(config, async (knex) => {
    const redis = connectRedis(config.redis, 'fail-fast');
    const deliveries = openDeliveryQueue(redis, config.queuePrefix, config);
    const deadLetters = openDeadLetterQueue(redis, config.queuePrefix);
    try {
      await assertRedisReachable(redis, config.redis);
      await assertQueuesUsable([deliveries, deadLetters], config.redis);
      return await use({ knex, ledger: pushLedger(redis, config), deliveries, deadLetters });
    } finally {
      await Promise.allSettled([deliveries.close(), deadLetters.close()]);
      redis.disconnect();
    }
  });
}

export async function runDlqListCommand(config: Config, opts: { json?: boolean }): Promise<void> {
  const letters = await withDatabase(config, (knex) => listDeadLetters(knex));
  if (opts.json) {
    console.log(JSON.stringify(letters.map(summarize), null, 2));
    return;
  }
  if (letters.length === 0) {
    console.log('no dead-lettered pushes');
    return;
  }
  console.log(`${letters.length} dead-lettered push(es):`);
  for (const letter of letters) {
    const s = summarize(letter);
    console.log(
      `  event ${s.eventId}  order ${s.orderId}  ${s.scenario}  → ${s.recipient} (${s.channel})  ` +
        `attempts ${s.attempts}  ${s.deadAt}\n    ${s.reason}`,
    );
  }
}

export async function runDlqReplayCommand(
  config: Config,
  eventIds: string[],
  opts: { all?: boolean },
): Promise<void> {
  if (Boolean(opts.all) === eventIds.length > 0) {
    throw new UsageError('name the event ids to replay, or --all (not both)');
  }
  const bad = eventIds.find((id) => !/^\d+$/.test(id));
  if (bad) throw new UsageError(`"${bad}" is not an event id (a number)`);
  const replayed = await withQueues(config, (deps) =>
    replayDeadLetters(deps, opts.all ? 'all' : eventIds),
  );
  console.log(
    replayed.length === 0
      ? 'nothing to replay'
      : `replayed ${replayed.length} push(es): ${replayed.join(', ')}`,
  );
}

function summarize(letter: DeadLetter) {
  const { push } = letter;
  const to = push.recipient;
  return {
    eventId: push.event.eventId,
    orderId: push.event.orderId,
    scenario: push.scenario,
    recipient: 'pool' in to && to.pool ? 'nurse pool' : `${to.role} ${to.id ?? '(missing)'}`,
    channel: push.channel,
    attempts: letter.attempts,
    reason: letter.reason,
    singerStatus: letter.singerStatus ?? null,
    singerBody: letter.singerBody ?? null,
    deadAt: letter.deadAt,
    idempotencyKey: push.idempotencyKey,
  };
}
