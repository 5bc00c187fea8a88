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

/**
 * `autoPipelining` sends the commands issued in one turn of the event loop as one write
 * (ioredis's enableAutoPipelining): for the worker's per-push order-turn commands, which
 * 64 concurrent deliveries issue at once, not for BullMQ's own connections.
 */
export function connectRedis(
  redisUrl: string,
  purpose: RedisPurpose,
  { autoPipelining = false }: { autoPipelining?: boolean } = {},
): Redis {
  const redis = new Redis(redisUrl, {
    enableAutoPipelining: autoPipelining,
    maxRetriesPerRequest: purpose === 'blocking' ? null : 1,
    enableOfflineQueue: true,
    // Reconnect forever, at most every 2 s: the pipeline resumes by itself (SPEC §7).
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    lazyConnect: false,
  });
  // Without a listener ioredis prints every failed reconnect, stack trace and all, to stderr.
  // The failures reach the callers anyway, as failed commands they report in context.
  redis.on('error', () => {});
  return redis;
}

/** Fails with where it tried and what to do, instead of ioredis' reconnect noise. */
export async function assertRedisReachable(redis: Redis, redisUrl: string): Promise<void> {
  // The failed command only says "max retries per request"; the connection error says why.
  let connectionError: (Error & { code?: string }) | undefined;
  const remember = (err: Error) => (connectionError ??= err);
  redis.on('error', remember);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5_000);
      }),
    ]);
  } catch (err) {
    throw new ServiceUnreachableError(
      `cannot reach Redis at ${redactUrl(redisUrl)} (${connectionError?.code ?? (err as Error).message}). Start one — for ` +
        'example `docker compose up -d redis` or `redis-server` — or set REDIS_URL.',
      { cause: connectionError ?? err },
    );
  } finally {
    // A pending timer would hold a finished command (`push dlq list`) open for 5 s.
    clearTimeout(timer);
    redis.off('error', remember);
  }
}
