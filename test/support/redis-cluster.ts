// A Redis Cluster of the test's own on loopback: `masters` masters with one replica each, every
// node a private redis-server (private-redis.ts) in cluster mode, joined by
// `redis-cli --cluster create`. With `password`, every node requires it (requirepass, and
// masterauth for its replication); with `tls`, nodes speak TLS only, to clients, to each other
// (the cluster bus) and to their replicas. Its one job beyond starting and stopping: `failOver(key)`
// moves the slot of a key to the replica of its master, as an operator's CLUSTER FAILOVER does.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { sleep } from './service-process.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';
import type { TestCertificates } from './test-certificates.js';

const run = promisify(execFile);
const READY_TIMEOUT_MS = 30_000;

export interface RedisClusterOptions {
  masters?: number;
  password?: string;
  tls?: TestCertificates;
}

export interface PrivateRedisCluster {
  nodes: PrivateRedis[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: REDIS_CLUSTER_NODES. */
  seeds: string;
  /** The port of the master that serves the key's slot now. */
  masterOf(key: string): Promise<number>;
  /** A node (port) that does not serve the key's slot: a wrong node to point at. */
  nodeNotServing(key: string): Promise<number>;
  /**
   * CLUSTER FAILOVER on the replica of the key's master, and waits until every node agrees the
   * replica is the slot's master. Returns the ports: from the old master to the new one.
   */
  failOver(key: string): Promise<{ from: number; to: number }>;
  /** How many commands a node has refused with MOVED (INFO errorstats). */
  movedReplies(port: number): Promise<number>;
  /** Stops every node and removes their data. Idempotent. */
  destroy(): Promise<void>;
}

export async function startRedisCluster({
  masters = 3,
  password,
  tls,
}: RedisClusterOptions = {}): Promise<PrivateRedisCluster> {
  const auth = password ? ['--requirepass', password, '--masterauth', password] : [];
  const tlsArgs = tls ? ['--tls-cluster', 'yes', '--tls-replication', 'yes'] : [];
  const clientTls = tls ? { tls: { ca: readFileSync(tls.caFile) } } : {};
  const nodes: PrivateRedis[] = [];
  const destroy = async () => {
    await Promise.allSettled(nodes.map((node) => node.destroy()));
  };
  try {
    const started = await Promise.all(
      Array.from({ length: masters * 2 }, () =>
        startPrivateRedis({
          args: [
            ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
            // Failure detection in 2 s, so a test's failover settles quickly.
            ...['--cluster-node-timeout', '2000'],
            ...auth,
            ...tlsArgs,
          ],
          tls,
          probe: { password },
        }),
      ),
    );
    nodes.push(...started);
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      'redis-cli',
      [
        ...(password ? ['-a', password, '--no-auth-warning'] : []),
        ...(tls ? ['--tls', '--cacert', tls.caFile] : []),
        ...['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'],
      ],
      // It waits for the nodes to meet; a node that never does must fail the start, not hang it.
      { timeout: READY_TIMEOUT_MS },
    ).catch(async (err: Error) => {
      const logs = await Promise.all(
        nodes.map(
          async (node) =>
            `--- ${node.port}:\n${(await readFile(join(node.dir, 'redis.log'), 'utf8').catch(() => '')).slice(-800)}`,
        ),
      );
      throw new Error(`redis-cli --cluster create failed: ${err.message}\n${logs.join('\n')}`);
    });
    const admin = (port: number) =>
      new Redis({
        host: '127.0.0.1',
        port,
        password,
        maxRetriesPerRequest: 1,
        lazyConnect: true,
        ...clientTls,
      });
    const ask = async <T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> => {
      const redis = admin(port);
      redis.on('error', () => {});
      try {
        return await use(redis);
      } finally {
        redis.disconnect();
      }
    };
    const slotOf = (key: string) =>
      ask(nodes[0]?.port ?? 0, (r) => r.cluster('KEYSLOT', key) as Promise<number>);
    /** [master port, replica ports] of the slot, as the given node sees it. */
    const ownerOf = async (slot: number, port: number) => {
      const ranges = await ask(port, (r) => r.cluster('SLOTS'));
      const range = ranges.find(([start, end]) => slot >= start && slot <= end);
      const [, , master, ...replicas] = range ?? [];
      if (!master) throw new Error(`no node serves slot ${slot} (as ${port} sees it)`);
      return { master: master[1], replicas: replicas.map((r) => r[1]) };
    };
    const untilSettled = async (what: string, settled: () => Promise<boolean>) => {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        if (await settled().catch(() => false)) return;
        if (Date.now() > deadline)
          throw new Error(`Redis Cluster: not within ${READY_TIMEOUT_MS} ms: ${what}`);
        await sleep(100);
      }
    };
    // Every node sees the cluster whole, with a replica for every range of slots, and every
    // replica has caught up with its master.
    await untilSettled('every node reports cluster_state:ok and its replicas in sync', async () => {
      for (const node of nodes) {
        const ranges = await ask(node.port, (r) => r.cluster('SLOTS'));
        if (ranges.length < masters || ranges.some((range) => range.length < 4)) return false;
        const info = await ask(node.port, (r) => r.cluster('INFO') as Promise<string>);
        if (!/cluster_state:ok/.test(info)) return false;
        const replication = await ask(node.port, (r) => r.info('replication'));
        if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication))
          return false;
      }
      return true;
    });

    return {
      nodes,
      seeds: addresses.join(','),
      async masterOf(key) {
        return (await ownerOf(await slotOf(key), nodes[0]?.port ?? 0)).master;
      },
      async nodeNotServing(key) {
        const owner = (await ownerOf(await slotOf(key), nodes[0]?.port ?? 0)).master;
        const other = nodes.find((node) => node.port !== owner);
        if (!other) throw new Error('a cluster of one node serves every slot');
        return other.port;
      },
      async failOver(key) {
        const slot = await slotOf(key);
        const { master, replicas } = await ownerOf(slot, nodes[0]?.port ?? 0);
        const replica = replicas[0];
        if (replica === undefined)
          throw new Error(`slot ${slot}'s master ${master} has no replica`);
        // Graceful: the master stops taking writes, the replica catches up, then they swap.
        await ask(replica, (r) => r.cluster('FAILOVER'));
        await untilSettled(`${replica} takes over slot ${slot} from ${master}`, async () => {
          for (const node of nodes) {
            if ((await ownerOf(slot, node.port)).master !== replica) return false;
          }
          return true;
        });
        return { from: master, to: replica };
      },
      async movedReplies(port) {
        const stats = await ask(port, (r) => r.info('errorstats'));
        return Number(/^errorstat_MOVED:count=(\d+)/m.exec(stats)?.[1] ?? 0);
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
