// The Redis settings as config.ts reads them: one node, a cluster or a sentinel group, each
// problem refused at start with the variable's name; on a cluster every key must share a hash tag.
// And the two small pieces that keep a refusing Redis from flooding the log.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { throttledErrorLog } from '../../src/log-throttle.js';
import { withoutCommandArguments } from '../../src/logger.js';
import { describeRedis, hashTagOf } from '../../src/redis/redis-settings.js';

const problemsOf = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
};

describe('Redis settings', () => {
  it('reads one node from REDIS_URL by default, with the plain prefix', () => {
    const config = loadConfig({ REDIS_URL: 'redis://:pw@redis.internal:6380/2' });
    expect(config.redis.topology).toEqual({ kind: 'single' });
    expect(config.queuePrefix).toBe('push');
    expect(describeRedis(config.redis)).toBe('REDIS_URL=redis://:***@redis.internal:6380/2');
  });

  it('reads a cluster from REDIS_CLUSTER_NODES, and hash-tags the default prefix', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://push:pw@cluster',
      REDIS_CLUSTER_NODES: '10.0.0.1:6379, 10.0.0.2:6379,[::1]:7000',
    });
    expect(config.redis.topology).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 6379 },
        { host: '10.0.0.2', port: 6379 },
        { host: '::1', port: 7000 },
      ],
    });
    expect(config.queuePrefix).toBe('{push}');
    expect(describeRedis(config.redis)).toContain(
      'REDIS_CLUSTER_NODES=10.0.0.1:6379,10.0.0.2:6379,[::1]:7000',
    );
    expect(describeRedis(config.redis)).toContain('rediss://push:***@cluster');
  });

  it('keeps a hash-tagged QUEUE_PREFIX on a cluster, and refuses one without a tag', () => {
    const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7000' };
    expect(loadConfig({ ...cluster, QUEUE_PREFIX: '{orders}-push' }).queuePrefix).toBe(
      '{orders}-push',
    );
    expect(problemsOf({ ...cluster, QUEUE_PREFIX: 'push' })).toContain(
      'QUEUE_PREFIX (got "push"): on a Redis Cluster (REDIS_CLUSTER_NODES) it must carry a hash tag',
    );
    expect(problemsOf({ ...cluster, QUEUE_PREFIX: 'push{}' })).toContain('QUEUE_PREFIX');
  });

  it('reads a sentinel group from REDIS_SENTINELS and REDIS_SENTINEL_NAME', () => {
    const config = loadConfig({
      REDIS_SENTINELS: 's1:26379,s2:26379',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel secret',
    });
    expect(config.redis).toMatchObject({
      topology: {
        kind: 'sentinel',
        masterName: 'mymaster',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
        ],
      },
      sentinelPassword: 'sentinel secret',
    });
    expect(config.queuePrefix).toBe('push');
  });

  it.each([
    [
      { REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2', REDIS_SENTINEL_NAME: 'm' },
      'REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one of them',
    ],
    [{ REDIS_CLUSTER_NODES: 'a:1,b' }, 'REDIS_CLUSTER_NODES (got "a:1,b"): "b" is not host:port'],
    [{ REDIS_CLUSTER_NODES: 'a:70000' }, '"a:70000" is not host:port'],
    [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES: must list at least one host:port'],
    [
      { REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://h/3' },
      'a Redis Cluster has database 0 only',
    ],
    [{ REDIS_SENTINELS: 'a:1' }, 'REDIS_SENTINEL_NAME: must be set with REDIS_SENTINELS'],
    [{ REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINEL_NAME: only applies with REDIS_SENTINELS'],
    [
      { REDIS_SENTINEL_PASSWORD: 'x' },
      'REDIS_SENTINEL_PASSWORD: only applies with REDIS_SENTINELS',
    ],
    [{ REDIS_TLS_CA: '/etc/ssl/ca.pem' }, 'REDIS_TLS_CA: only applies to TLS'],
    [{ REDIS_URL: 'redis://h/zero' }, 'REDIS_URL: the path must be a database number'],
  ])('refuses %o by name', (env, message) => {
    expect(problemsOf(env)).toContain(message);
  });

  it('never shows the password of REDIS_URL in a refusal', () => {
    const message = problemsOf({ REDIS_URL: 'redis://:hunter2@h/zero' });
    expect(message).not.toContain('hunter2');
  });

  it('finds the hash tag Redis Cluster hashes', () => {
    expect(hashTagOf('{push}:deliveries:1')).toBe('push');
    expect(hashTagOf('push:{x}')).toBe('x');
    expect(hashTagOf('push:deliveries')).toBeUndefined();
    expect(hashTagOf('{}push{x}')).toBeUndefined(); // an empty first tag: the whole key is hashed
  });
});

describe('what a refusing Redis may write to the log', () => {
  afterEach(() => vi.useRealTimers());

  it('logs the first of a run of errors, then one summary per interval, then again after a quiet one', () => {
    vi.useFakeTimers();
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'error' },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const log = throttledErrorLog(logger, 'refused', 10_000);
    for (let i = 0; i < 5_000; i++) log(new Error('MOVED 1 127.0.0.1:7000'));
    expect(lines.map((l) => l.msg)).toEqual(['refused']);
    vi.advanceTimersByTime(10_000);
    expect(lines.map((l) => l.msg)).toEqual(['refused', 'refused (4999 more in the last 10 s)']);
    vi.advanceTimersByTime(10_000); // quiet: nothing to summarize, the run ends
    log(new Error('MOVED 1 127.0.0.1:7000'));
    expect(lines).toHaveLength(3);
  });

  it("drops the failed command's arguments from a Redis error (for AUTH, the password)", () => {
    const err = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['push', 'hunter2'] },
    });
    const safe = withoutCommandArguments(err);
    expect(safe.message).toBe(err.message);
    expect(JSON.stringify(pino.stdSerializers.err(safe))).not.toContain('hunter2');
    expect((safe as unknown as { command: unknown }).command).toEqual({ name: 'auth' });
    expect(err.command.args).toEqual(['push', 'hunter2']); // the original is left alone
  });
});
