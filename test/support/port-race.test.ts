// Two private servers started at once can be handed the same free port. The one that binds it
// second must not take the first for itself: its test would set up, flush or stop another test's
// server. Each helper is offered the first server's port, as a racing findFreePort would, and
// must end up on a port and a process of its own.
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { findFreePort } from '../../bench/local-process.js';
import { startLocalMariaDb } from '../../bench/local-mariadb.js';
import { startPrivateRedis } from './private-redis.js';

const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

/** Offers `taken` first, then free ports; `offered` says what it offered. */
function takenPortFirst(taken: number) {
  const offered: number[] = [];
  return {
    offered,
    async choosePort() {
      const port = offered.length === 0 ? taken : await findFreePort();
      offered.push(port);
      return port;
    },
  };
}

async function expectOwnServer(
  start: (choosePort: () => Promise<number>) => Promise<{ port: number }>,
  first: { port: number },
  identity: (server: { port: number }) => Promise<unknown>,
) {
  const chooser = takenPortFirst(first.port);
  const second = await start(chooser.choosePort);
  expect(chooser.offered[0]).toBe(first.port);
  expect(second.port).not.toBe(first.port);
  expect(await identity(second)).not.toEqual(await identity(first));
}

it('a private MariaDB starts on another port when its port is already another server’s', async () => {
  const small = {
    innodbArgs: ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M'],
    serverArgs: ['--skip-ssl'],
  };
  const start = async (choosePort?: () => Promise<number>) => {
    const server = await startLocalMariaDb({ label: 'push-port-race-', ...small, choosePort });
    cleanups.push(() => server.stop());
    return server;
  };
  const datadir = async ({ port }: { port: number }) => {
    const connection = await createConnection({ uri: `mysql://root@127.0.0.1:${port}/` });
    try {
      const [rows] = await connection.query<RowDataPacket[]>('SELECT @@datadir AS datadir');
      return rows[0]?.datadir as string;
    } finally {
      await connection.end();
    }
  };
  await expectOwnServer(start, await start(), datadir);
}, 120_000);

it('a private Redis starts on another port when its port is already another server’s', async () => {
  const start = async (choosePort?: () => Promise<number>) => {
    const server = await startPrivateRedis({ choosePort });
    cleanups.push(() => server.destroy());
    return server;
  };
  const processId = async ({ port }: { port: number }) => {
    const client = new Redis({ port, maxRetriesPerRequest: 0 });
    try {
      return /process_id:(\d+)/.exec(await client.info('server'))?.[1];
    } finally {
      client.disconnect();
    }
  };
  await expectOwnServer(start, await start(), processId);
}, 60_000);
