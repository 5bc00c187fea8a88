/**
 * Redis connections for BullMQ. Workers block on Redis and must wait out an outage
 * (maxRetriesPerRequest: null, as BullMQ's production guide says). The poller's
 * connection fails fast instead: it holds row locks in MySQL while it enqueues, and an
 * error there rolls the claim back so another attempt can take the rows later.
 */
import { Redis } from 'ioredis';
import { redactUrl } from '../config.js';
import { ServiceUnreachableError } from '../service-unreachable-error.js';

export type RedisPurpose = 'blocking' | 'fail-fast';

export function connectRedis(redisUrl: string, purpose: RedisPurpose): Redis {
  return new Redis(redisUrl, {
    maxRetriesPerRequest: purpose === 'blocking' ? null : 1,
    enableOfflineQueue: true,
    // Reconnect forever, at most every 2 s: the pipeline resumes by itself (SPEC §7).
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    lazyConnect: false,
  });
}

/** Fails with where it tried and what to do, instead of ioredis' reconnect noise. */
export async function assertRedisReachable(redis: Redis, redisUrl: string): Promise<void> {
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000)),
    ]);
  } catch (err) {
    throw new ServiceUnreachableError(
      `cannot reach Redis at ${redactUrl(redisUrl)} (${(err as Error).message}). Start one — for ` +
        'example `docker compose up -d redis` or `redis-server` — or set REDIS_URL.',
      { cause: err },
    );
  }
}
