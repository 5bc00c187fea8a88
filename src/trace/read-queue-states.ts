/**
 * Where each push stands in Redis: its delivery job (waiting, delayed = retrying,
 * completed, failed) — the hand-off job that holds it, while one does — and its
 * dead-letter entry. Optional for a trace: when Redis does not
 * answer within a few seconds the trace still shows what MySQL knows, and says so.
 */
import {
  assertQueuesUsable,
  assertRedisReachable,
  connectRedis,
} from '../redis/redis-connection.js';
import type { RedisSettings } from '../redis/redis-settings.js';
import {
  openDeadLetterQueue,
  openDeliveryQueue,
  type DeliveryJobSettings,
} from '../delivery/queues.js';
import { pushLedger } from '../delivery/push-ledger.js';
import type { JobState, QueueStates } from './order-trace.js';

export interface QueueStateSource extends DeliveryJobSettings {
  redis: RedisSettings;
  queuePrefix: string;
}

const TIMEOUT_MS = 5_000;

export async function readQueueStates(
  source: QueueStateSource,
  keys: string[],
): Promise<{ states: Map<string, QueueStates> | undefined; problem: string | null }> {
  const redis = connectRedis(source.redis, 'probe', { timeoutMs: TIMEOUT_MS });
  try {
    await assertRedisReachable(redis, source.redis, TIMEOUT_MS);
  } catch (err) {
    redis.disconnect();
    return { states: undefined, problem: (err as Error).message };
  }
  const deliveries = openDeliveryQueue(redis, source.queuePrefix, source);
  const deadLetters = openDeadLetterQueue(redis, source.queuePrefix);
  try {
    // Both queues started before anything is read (or closed): see assertQueuesUsable.
    try {
      await assertQueuesUsable([deliveries, deadLetters], source.redis);
    } catch (err) {
      return { states: undefined, problem: (err as Error).message };
    }
    const states = new Map<string, QueueStates>();
    const ledger = pushLedger(redis, source);
    const [holders, settled] = await Promise.all([
      ledger.holders(keys),
      ledger.settledLately(keys),
    ]);
    for (const [i, key] of keys.entries()) {
      const [delivery, deadLetter] = await Promise.all([
        // Settled in a hand-off job, a push has no job of its own to ask: it is done.
        settled[i] ? 'completed' : deliveries.getJobState(holders[i] ?? key),
        deadLetters.getJobState(key),
      ]);
      states.set(key, { delivery: delivery as JobState, deadLetter: deadLetter as JobState });
    }
    return { states, problem: null };
  } finally {
    await Promise.allSettled([deliveries.close(), deadLetters.close()]);
    redis.disconnect();
  }
}
