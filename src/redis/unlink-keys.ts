/**
 * Deletes every key under a prefix (`<prefix>:*`), on one node or on every master of a
 * cluster (each holds only its own slots' keys, and SCAN sees only its own). SCAN rather
 * than KEYS so a busy Redis is never blocked; UNLINK frees memory off the main thread, one
 * key per command so that keys of different slots never meet in one command.
 */
import { masterNodes, type RedisClient } from './redis-connection.js';

/** Returns how many keys went. */
export async function unlinkKeys(client: RedisClient, prefix: string): Promise<number> {
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  let deleted = 0;
  for (const node of masterNodes(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      for (const [err, count] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        deleted += Number(count);
      }
    } while (cursor !== '0');
  }
  return deleted;
}
