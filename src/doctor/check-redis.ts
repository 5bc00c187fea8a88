/**
 * Redis holds every push between the outbox and Singer: it must answer, and must not
 * evict (eviction-policy.ts says why and owns the wording).
 */
import { Redis } from 'ioredis';
import { redactUrl } from '../config.js';
import { EVICTION_FIX, evictionRisk, maxmemoryPolicy } from '../redis/eviction-policy.js';
import { errorMessage, fail, ok, warn, type CheckResult } from './check-result.js';

const CHECK = 'redis';

export async function checkRedis(redisUrl: string, timeoutMs: number): Promise<CheckResult> {
  const where = redactUrl(redisUrl);
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis rejects connect() with a bare "Connection is closed."; the cause comes as an event.
  let connectionError: unknown;
  redis.on('error', (err: unknown) => (connectionError ??= err));
  try {
    await redis.connect();
    const policy = await maxmemoryPolicy(redis);
    if (policy === undefined) {
      return warn(
        CHECK,
        `Redis at ${where} answers, but does not say its maxmemory-policy`,
        'make sure maxmemory-policy is noeviction',
      );
    }
    if (policy === 'noeviction')
      return ok(CHECK, `Redis at ${where} answers; maxmemory-policy is noeviction`, [
        await persistenceNote(redis),
      ]);
    return warn(CHECK, `Redis at ${where} has ${evictionRisk(policy)}`, EVICTION_FIX);
  } catch (err) {
    return fail(
      CHECK,
      `cannot reach Redis at ${where}: ${errorMessage(connectionError ?? err)}`,
      'start Redis or set REDIS_URL to one that runs',
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * Not a verdict (development Redis rarely persists), but worth a line: without AOF a
 * Redis crash loses the pushes it held after their outbox rows were stamped.
 */
async function persistenceNote(redis: Redis): Promise<string> {
  const info = await redis.info('persistence');
  if (/^aof_enabled:1/m.test(info))
    return 'append-only file on: queued pushes survive a Redis restart';
  return (
    'append-only file off: a Redis crash loses the pushes it holds; in production set ' +
    'appendonly yes (and appendfsync everysec or always)'
  );
}
