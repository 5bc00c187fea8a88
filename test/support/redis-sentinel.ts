// A Sentinel group of the test's own on loopback: a master, a replica of it and three sentinels
// (quorum 2), each a private redis-server (private-redis.ts). With `password`, master and replica
// require it (requirepass, masterauth) and the sentinels log in with it (auth-pass); with
// `sentinelPassword` the sentinels require one of their own. Its one job beyond starting and
// stopping: `killMaster()` SIGKILLs the master and waits until the sentinels have promoted the
// replica.
import { Redis } from 'ioredis';
import { sleep } from './service-process.js';
import { findFreePort } from './service-process.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';

const SETTLE_TIMEOUT_MS = 30_000;

export interface SentinelGroupOptions {
  masterName?: string;
  password?: string;
  sentinelPassword?: string;
}

export interface PrivateSentinelGroup {
  masterName: string;
  master: PrivateRedis;
  replica: PrivateRedis;
  sentinels: PrivateRedis[];
  /** `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`: REDIS_SENTINELS. */
  addresses: string;
  /** The master's port, as the sentinels report it. */
  masterPort(): Promise<number>;
  /**
   * SIGKILLs the current master and waits until the sentinels name the replica as master.
   * Returns the ports, from the dead master to the new one.
   */
  killMaster(): Promise<{ from: number; to: number }>;
  /** Stops every server and removes their data. Idempotent. */
  destroy(): Promise<void>;
}

export async function startSentinelGroup({
  masterName = 'pushmaster',
  password,
  sentinelPassword,
}: SentinelGroupOptions = {}): Promise<PrivateSentinelGroup> {
  const servers: PrivateRedis[] = [];
  const destroy = async () => {
    await Promise.allSettled(servers.map((server) => server.destroy()));
  };
  const auth = password ? ['--requirepass', password, '--masterauth', password] : [];
  try {
    const master = await startPrivateRedis({ args: auth, probe: { password } });
    servers.push(master);
    const replica = await startPrivateRedis({
      args: [...auth, '--replicaof', '127.0.0.1', String(master.port)],
      probe: { password },
    });
    servers.push(replica);
    const ask = async <T>(
      port: number,
      secret: string | undefined,
      use: (r: Redis) => Promise<T>,
    ) => {
      const redis = new Redis({
        port,
        password: secret,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      redis.on('error', () => {});
      try {
        await redis.connect();
        return await use(redis);
      } finally {
        redis.disconnect();
      }
    };
    const settle = async (what: string, settled: () => Promise<boolean>) => {
      const deadline = Date.now() + SETTLE_TIMEOUT_MS;
      for (;;) {
        if (await settled().catch(() => false)) return;
        if (Date.now() > deadline)
          throw new Error(`Sentinel group: not within ${SETTLE_TIMEOUT_MS} ms: ${what}`);
        await sleep(100);
      }
    };
    await settle('the replica is in sync', async () =>
      /master_link_status:up/.test(await ask(replica.port, password, (r) => r.info('replication'))),
    );

    const sentinels = await Promise.all(
      [0, 1, 2].map(async () => {
        const port = await findFreePort();
        return startPrivateRedis({
          port,
          configFile: [
            `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
            // Down after 1 s of silence, so that a test's failover takes seconds, not a minute.
            `sentinel down-after-milliseconds ${masterName} 1000`,
            `sentinel failover-timeout ${masterName} 10000`,
            ...(password ? [`sentinel auth-pass ${masterName} "${password}"`] : []),
            ...(sentinelPassword ? [`requirepass "${sentinelPassword}"`] : []),
            '',
          ].join('\n'),
          args: ['--sentinel'],
          probe: { password: sentinelPassword },
        });
      }),
    );
    servers.push(...sentinels);
    const sentinelView = (port: number) =>
      ask(port, sentinelPassword, async (r) => {
        const fields = (await r.call('SENTINEL', 'MASTER', masterName)) as string[];
        const view = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2)
          view.set(fields[i] ?? '', fields[i + 1] ?? '');
        return view;
      });
    // Every sentinel knows the replica and the two other sentinels: ready to agree on a failover.
    await settle('every sentinel sees the replica and the other sentinels', async () => {
      for (const sentinel of sentinels) {
        const view = await sentinelView(sentinel.port);
        if (Number(view.get('num-slaves')) < 1 || Number(view.get('num-other-sentinels')) < 2)
          return false;
      }
      return true;
    });

    const masterPort = async () => {
      const [, port] = (await ask(sentinels[0]?.port ?? 0, sentinelPassword, (r) =>
        r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName),
      )) as [string, string];
      return Number(port);
    };
    const group: PrivateSentinelGroup = {
      masterName,
      master,
      replica,
      sentinels,
      addresses: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      masterPort,
      async killMaster() {
        const from = await masterPort();
        const victim = [master, replica].find((server) => server.port === from);
        if (!victim) throw new Error(`the sentinels name ${from}, which is not ours`);
        await victim.stop('kill');
        await settle(`the sentinels promote a replica in place of ${from}`, async () => {
          for (const sentinel of sentinels) {
            const view = await sentinelView(sentinel.port);
            if (Number(view.get('port')) === from || !/^master$/.test(view.get('flags') ?? ''))
              return false;
          }
          return true;
        });
        return { from, to: await masterPort() };
      },
      destroy,
    };
    return group;
  } catch (err) {
    await destroy();
    throw err;
  }
}
