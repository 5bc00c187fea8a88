// Two private Redis servers started at once can be handed the same free port. The one that binds
// it second must not take the first for itself: a test would stop, flush or fill another test's
// Redis.
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { findFreePort } from './service-process.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';

const started: PrivateRedis[] = [];

afterAll(async () => {
  await Promise.all(started.map((server) => server.destroy()));
});

async function processIdOf(url: string): Promise<string | undefined> {
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  try {
    return /process_id:(\d+)/.exec(await client.info('server'))?.[1];
  } finally {
    client.disconnect();
  }
}

it('starts on another port when the port it was given is already another server’s', async () => {
  const first = await startPrivateRedis();
  started.push(first);

  const offered: number[] = [];
  const second = await startPrivateRedis({
    // The first server's port, as a racing findFreePort would have offered it; then a free one.
    choosePort: async () => {
      const port = offered.length === 0 ? first.port : await findFreePort();
      offered.push(port);
      return port;
    },
  });
  started.push(second);

  expect(offered[0]).toBe(first.port);
  expect(second.port).not.toBe(first.port);
  expect(await processIdOf(second.url)).not.toBe(await processIdOf(first.url));
}, 60_000);
