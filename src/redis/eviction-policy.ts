/**
 * Redis's `maxmemory-policy`, and the one wording of what an evicting policy risks, for the
 * start-up log, /readyz and `push doctor`. Only `noeviction` is safe for BullMQ (its
 * production guide): any other policy lets a full Redis delete keys — queued jobs and the
 * orders' turns among them — instead of refusing new writes. ElastiCache's default
 * parameter group says `volatile-lru`. INFO rather than CONFIG GET: managed Redis
 * (ElastiCache, Aliyun) disables CONFIG but answers INFO.
 */
import { masterNodes, type RedisClient } from './redis-connection.js';

/**
 * The policy as INFO reports it; undefined when it does not say. On a cluster, each master
 * is asked, and an evicting policy on any of them is the answer: any may hold push's keys.
 */
export async function maxmemoryPolicy(redis: RedisClient): Promise<string | undefined> {
  const infos = await Promise.all(masterNodes(redis).map((node) => node.info('memory')));
  const policies = infos.map((info) => /^maxmemory_policy:(\S+)/m.exec(info)?.[1]);
  return policies.find((policy) => policy !== undefined && policy !== 'noeviction') ?? policies[0];
}

/** What a policy risks, in one sentence; undefined for `noeviction` (and an unknown policy). */
export function evictionRisk(policy: string | undefined): string | undefined {
  if (policy === undefined || policy === 'noeviction') return undefined;
  return (
    `maxmemory-policy ${policy}: when Redis fills up it deletes keys, queued pushes ` +
    'and order turns among them, instead of refusing new ones; the reconciler sends a ' +
    'deleted push again from MySQL, late and maybe out of its order'
  );
}

/** What to set, and where. */
export const EVICTION_FIX = [
  'set maxmemory-policy to noeviction:',
  '  self-managed: CONFIG SET maxmemory-policy noeviction (and maxmemory-policy noeviction in redis.conf)',
  '  ElastiCache / Aliyun: maxmemory-policy = noeviction in the parameter group',
].join('\n');

/** The start-up log line and /readyz's detail: the risk and what to set, on one line. */
export function evictionWarning(policy: string | undefined): string | undefined {
  const risk = evictionRisk(policy);
  return risk && `Redis has ${risk}; set maxmemory-policy noeviction`;
}
