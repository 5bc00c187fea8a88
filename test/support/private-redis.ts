// A Redis of a test's own, on a private port, that the test may stop and start again: the shared
// test Redis must never go down under other test files. Data lives in an append-only file with
// `appendfsync always`, so every write Redis acknowledged survives even a SIGKILL of the server —
// the durability a production Redis for BullMQ is configured with — and an outage test proves
// that push loses nothing, not that an unsynced Redis does.
//
// The topologies build on it: `args` adds server options (requirepass, ACL users, cluster mode),
// `tls` serves TLS only on the port, `configFile` gives a sentinel the config it rewrites, and
// `probe` is how the readiness check logs in.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { findFreePort, sleep } from './service-process.js';
import type { TestCertificates } from './test-certificates.js';

const READY_TIMEOUT_MS = 15_000;

export interface PrivateRedisOptions {
  maxmemoryPolicy?: string;
  /** More redis-server arguments (`--requirepass`, `--user`, `--cluster-enabled`, …). */
  args?: string[];
  /** Serves TLS (only) on the port, with this certificate; clients need no certificate. */
  tls?: TestCertificates;
  /** A config file's text, passed first: a sentinel needs a file it may rewrite. */
  configFile?: string;
  /** How the readiness probe logs in (`password`, `username`). */
  probe?: RedisOptions;
  /** A port chosen beforehand (default: a free one). */
  port?: number;
  /** How a free port is found, when `port` is not given (tests of this helper). */
  choosePort?: () => Promise<number>;
}

export interface PrivateRedis {
  port: number;
  /** `redis://127.0.0.1:<port>` (`rediss://` with `tls`), without credentials. */
  url: string;
  /** Its data directory and log (`redis.log`). */
  dir: string;
  readonly running: boolean;
  /** Stops the server: SIGKILL (a crash; AOF keeps acknowledged writes) or SIGTERM (clean). */
  stop(how?: 'kill' | 'shutdown'): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it and removes its data directory. Idempotent. */
  destroy(): Promise<void>;
}

/** Another server bound the port first (two given the same free port at once). */
class PortTakenError extends Error {}

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  // On a port of its own choosing it tries another when that one was taken meanwhile.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnPort(options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || options.port !== undefined || attempt === 3)
        throw error;
    }
  }
}

async function startOnPort({
  maxmemoryPolicy = 'noeviction',
  args = [],
  tls,
  configFile,
  probe = {},
  port: chosenPort,
  choosePort = findFreePort,
}: PrivateRedisOptions): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'push-redis-'));
  const port = chosenPort ?? (await choosePort());
  const url = `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  const configPath = join(dir, 'redis.conf');
  if (configFile !== undefined) await writeFile(configPath, configFile);
  const listen = tls
    ? [
        ...['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no'],
        ...['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile],
        ...['--tls-ca-cert-file', tls.caFile],
      ]
    : ['--port', String(port)];
  const probeTls = tls ? { tls: { ca: readFileSync(tls.caFile) } } : {};
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function start(): Promise<void> {
    if (child) throw new Error(`private Redis on ${port} is already running`);
    const started = spawn(
      'redis-server',
      [
        ...(configFile === undefined ? [] : [configPath]),
        ...listen,
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
        ...args,
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

  /** Ready when PING works on this server: not on another that bound the port first. */
  async function waitUntilAnswers(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!child) break;
      const pid = child.pid;
      const client = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        ...probeTls,
        ...probe,
      });
      client.on('error', () => {}); // a refused connect is expected while it starts
      try {
        await client.connect();
        // While it replays the AOF, Redis answers LOADING; ready means PING works.
        if ((await client.ping()) === 'PONG') {
          const answering = /process_id:(\d+)/.exec(await client.info('server'))?.[1];
          if (Number(answering) === pid) return;
          last = new Error(`another Redis answers on ${port} (process ${answering})`);
        }
      } catch (err) {
        last = err;
      } finally {
        client.disconnect();
      }
      await sleep(50);
    }
    const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '(no log)');
    const message = `private Redis on ${port} did not answer: ${String(last)}\n${log.slice(-2000)}`;
    throw /address already in use/i.test(log) ? new PortTakenError(message) : new Error(message);
  }

  async function stop(how: 'kill' | 'shutdown' = 'kill'): Promise<void> {
    if (!child) return;
    child.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  try {
    await start();
  } catch (error) {
    await stop('kill');
    process.off('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let destroyed = false;
  return {
    port,
    url,
    dir,
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
