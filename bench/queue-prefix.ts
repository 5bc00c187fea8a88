/** Every run gets its own BullMQ prefix on the shared Redis, removed afterwards. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export function benchQueuePrefix(label: string): string {
  return `push-bench-${label}-${randomBytes(4).toString('hex')}`;
}

/** SCAN + UNLINK of `<prefix>:*`, so a shared Redis is never blocked. */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
