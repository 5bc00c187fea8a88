/**
 * Redis holds every push between the outbox and Singer: it must answer where push's keys
 * are, and must not evict (eviction-policy.ts says why and owns the wording). On a cluster
 * every master is asked: each holds its own share of the keys.
 *
 * Answering is not enough: a single-node REDIS_URL pointed at a cluster node answers PING
 * but refuses every key it does not own (MOVED), so the check reads one of push's own keys.
 */
import type { Redis } from 'ioredis';
import { DELIVERY_QUEUE } from '../delivery/queues.js';
import { EVICTION_FIX, evictionRisk, maxmemoryPolicy } from '../redis/eviction-policy.js';
import {
  assertRedisReachable,
  connectRedis,
  masterNodes,
  redisServes,
} from '../redis/redis-connection.js';
import { describeRedis, type RedisSettings } from '../redis/redis-settings.js';
import { errorMessage, fail, ok, warn, type CheckResult } from './check-result.js';

const CHECK = 'redis';

export async function checkRedis(
  settings: RedisSettings,
  queuePrefix: string,
  timeoutMs: number,
): Promise<CheckResult> {
  const where = describeRedis(settings);
  const redis = connectRedis(settings, 'probe', { timeoutMs });
  try {
    try {
      await assertRedisReachable(redis, settings, timeoutMs);
    } catch (err) {
      return fail(CHECK, errorMessage(err), 'start Redis, or fix the setting the message names');
    }
    if (
      settings.topology.kind === 'single' &&
      /^cluster_enabled:1/m.test(await redis.info('cluster'))
    ) {
      return fail(
        CHECK,
        `Redis at ${where} is a Redis Cluster node, and push talks to one node only`,
        "list the cluster's nodes in REDIS_CLUSTER_NODES (host:port,host:port,…)",
      );
    }
    const refused = await redisServes(redis, settings, `${queuePrefix}:${DELIVERY_QUEUE}:meta`);
    if (refused) return fail(CHECK, refused, 'see the README, "Redis authentication and TLS"');

    const masters = masterNodes(redis);
    const policy = await maxmemoryPolicy(redis);
    if (policy === undefined) {
      return warn(
        CHECK,
        `Redis at ${where} answers, but does not say its maxmemory-policy`,
        'make sure maxmemory-policy is noeviction',
      );
    }
    const risk = evictionRisk(policy);
    if (risk) return warn(CHECK, `Redis at ${where} has ${risk}`, EVICTION_FIX);
    const nodes = settings.topology.kind === 'cluster' ? ` (${masters.length} masters)` : '';
    return ok(CHECK, `Redis at ${where}${nodes} answers; maxmemory-policy is noeviction`, [
      await persistenceNote(masters),
    ]);
  } catch (err) {
    return fail(
      CHECK,
      `cannot use Redis at ${where}: ${errorMessage(err)}`,
      'start Redis or set REDIS_URL to one that runs',
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * Not a verdict (development Redis rarely persists), but worth a line: without AOF a
 * Redis crash loses the jobs it held; MySQL still owes their pushes, and the reconciler
 * sends them again, late.
 */
async function persistenceNote(masters: Redis[]): Promise<string> {
  const infos = await Promise.all(masters.map((node) => node.info('persistence')));
  if (infos.every((info) => /^aof_enabled:1/m.test(info)))
    return 'append-only file on: queued pushes survive a Redis restart';
  return (
    'append-only file off: after a Redis crash the pushes it held arrive only once the ' +
    'reconciler sends them again (RECONCILE_AFTER_S); in production set appendonly yes ' +
    '(and appendfsync everysec or always)'
  );
}
