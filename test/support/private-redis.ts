// A Redis of a test's own, on a private port, that the test may stop and start again: the shared
// test Redis must never go down under other test files. Data lives in an append-only file with
// `appendfsync always`, so every write Redis acknowledged survives even a SIGKILL of the server —
// the durability a production Redis for BullMQ is configured with — and an outage test proves
// that push loses nothing, not that an unsynced Redis does.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findFreePort, sleep } from './service-process.js';

const READY_TIMEOUT_MS = 15_000;

export interface PrivateRedis {
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  readonly running: boolean;
  /** Stops the server: SIGKILL (a crash; AOF keeps acknowledged writes) or SIGTERM (clean). */
  stop(how?: 'kill' | 'shutdown'): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it and removes its data directory. Idempotent. */
  destroy(): Promise<void>;
}

export async function startPrivateRedis({
  maxmemoryPolicy = 'noeviction',
}: { maxmemoryPolicy?: string } = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'push-redis-'));
  const port = await findFreePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function start(): Promise<void> {
    if (child) throw new Error(`private Redis on ${port} is already running`);
    const started = spawn(
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
        'always',
        '--dir',
        dir,
        '--logfile',
        join(dir, 'redis.log'),
        '--maxmemory-policy',
        maxmemoryPolicy,
        '--protected-mode',
        'no',
      ],
      { stdio: 'ignore' },
    );
    child = started;
    exited = new Promise<void>((resolve) => {
      started.once('exit', () => {
        if (child === started) child = undefined;
        resolve();
      });
    });
    const spawnError = new Promise<never>((_, reject) =>
      started.once('error', (err) => reject(new Error(`cannot run redis-server: ${err.message}`))),
    );
    await Promise.race([waitUntilAnswers(), spawnError]);
  }

  async function waitUntilAnswers(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!child) break;
      const probe = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => {}); // a refused connect is expected while it starts
      try {
        await probe.connect();
        // While it replays the AOF, Redis answers LOADING; ready means PING works.
        if ((await probe.ping()) === 'PONG') return;
      } catch (err) {
        last = err;
      } finally {
        probe.disconnect();
      }
      await sleep(50);
    }
    const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '(no log)');
    throw new Error(
      `private Redis on ${port} did not answer: ${String(last)}\n${log.slice(-2000)}`,
    );
  }

  async function stop(how: 'kill' | 'shutdown' = 'kill'): Promise<void> {
    if (!child) return;
    child.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  await start();
  let destroyed = false;
  return {
    port,
    url,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop('kill');
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
