// Issue 11, item 6: a Redis whose maxmemory-policy is not noeviction is named at start (one
// warning line), in /readyz's details (still ready) and by `push doctor`, in the same words
// (src/redis/eviction-policy.ts); a noeviction Redis gets none of it. A private redis-server
// with allkeys-lru: the shared test Redis must keep noeviction.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EVICTION_FIX, evictionRisk, evictionWarning } from '../../src/redis/eviction-policy.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { runCli } from '../support/run-cli.js';
import { deleteQueueKeys, testRedisUrl } from '../support/test-database.js';
import { createFaultScene, type FaultScene } from '../faults/fault-fixture.js';

let evicting: PrivateRedis;
let scene: FaultScene;

beforeAll(async () => {
  evicting = await startPrivateRedis({ maxmemoryPolicy: 'allkeys-lru' });
  scene = await createFaultScene('eviction-warning', { redisUrl: evicting.url });
});

afterAll(async () => {
  await scene?.destroy();
  await deleteQueueKeys(testRedisUrl(), scene.queuePrefix).catch(() => {});
  await evicting?.destroy();
});

function lines(output: string, text: string): string[] {
  return output.split('\n').filter((line) => line.includes(text));
}

it('names an evicting policy at start, in /readyz and in push doctor, and stays ready', async () => {
  const warning = evictionWarning('allkeys-lru')!;
  expect(warning).toContain('maxmemory-policy allkeys-lru');
  expect(warning).toContain('set maxmemory-policy noeviction');

  const service = await scene.startService('evicting');
  await service.waitUntilReady();
  const logged = lines(service.output(), warning);
  expect(logged).toHaveLength(1);
  expect(JSON.parse(logged[0]!)).toMatchObject({ level: 'warn', msg: warning });

  const readyz = await service.readyz();
  expect(readyz.status).toBe(200);
  expect(readyz.body?.details?.redis).toBe(warning);

  const doctor = await runCli(['doctor', '--json'], {
    DATABASE_URL: scene.db.url,
    REDIS_URL: evicting.url,
    SINGER_URL: scene.singer.url,
  });
  const redisCheck = (
    JSON.parse(doctor.stdout) as {
      checks: Array<{ check: string; verdict: string; summary: string; fix?: string }>;
    }
  ).checks.find((c) => c.check === 'redis');
  expect(redisCheck).toMatchObject({
    verdict: 'warn',
    summary: `Redis at REDIS_URL=${evicting.url} has ${evictionRisk('allkeys-lru')}`,
    fix: EVICTION_FIX,
  });
  expect(doctor.code).toBe(0);

  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
});

it('says nothing of eviction when Redis has noeviction', async () => {
  const service = await scene.startService('noeviction', { REDIS_URL: testRedisUrl() });
  await service.waitUntilReady();
  expect(lines(service.output(), 'maxmemory-policy')).toEqual([]);
  const readyz = await service.readyz();
  expect(readyz.status).toBe(200);
  expect(readyz.body?.details).not.toHaveProperty('redis');
  service.kill('SIGTERM');
  expect((await service.waitForExit()).code).toBe(0);
});
