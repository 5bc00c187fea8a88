/**
 * A redis-server of the benchmark's own, on a free port, configured as BullMQ's production
 * guide says (noeviction, append-only file fsynced every second). Its own server lets the
 * benchmark count Redis's CPU per event and keeps a shared Redis's other clients out of
 * the figures. Without redis-server on PATH the benchmark uses REDIS_URL instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from './clock.js';
import { findFreePort } from './local-process.js';

export interface PrivateRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'push-bench-redis-'));
  const port = await findFreePort();
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--dir',
      dir,
      '--logfile',
      join(dir, 'redis.log'),
    ],
    { stdio: 'ignore' },
  );
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!spawned) {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {}); // refused until redis-server listens; the loop retries
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch (err) {
      if (attempt > 100)
        throw new Error(`the benchmark's redis-server did not answer on ${port}`, { cause: err });
      await sleep(50);
    } finally {
      probe.disconnect();
    }
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
