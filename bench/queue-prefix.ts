/** Every run gets its own BullMQ prefix on the shared Redis, removed afterwards. */
import { randomBytes } from 'node:crypto';
import { connectRedis } from '../src/redis/redis-connection.js';
import { singleNodeRedis } from '../src/redis/redis-settings.js';
import { unlinkKeys } from '../src/redis/unlink-keys.js';

export function benchQueuePrefix(label: string): string {
  return `push-bench-${label}-${randomBytes(4).toString('hex')}`;
}

/** SCAN + UNLINK of `<prefix>:*`, so a shared Redis is never blocked. */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = connectRedis(singleNodeRedis(redisUrl), 'fail-fast');
  try {
    await unlinkKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
