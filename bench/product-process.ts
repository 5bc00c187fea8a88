/**
 * A product process under measurement: `node dist/src/cli.js start`, configured only through
 * its environment (SPEC §6), like production. Its CPU is read from /proc, apart from the
 * load generator's and the stand-in Singer's. With BENCH_CPU_PROF=<dir> in the bench's
 * environment it runs under --cpu-prof and leaves a .cpuprofile there when stopped. With
 * BENCH_PRODUCT_DIR=<dir> it runs the build in <dir> (a copy of the package with its dist/,
 * scenarios/ and node_modules), so two builds can be measured alternately on one machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root.js';
import { sleep } from './clock.js';
import { processCpuMs } from './process-cpu.js';
import { findFreePort } from './local-process.js';
import { raisePriority } from './priority.js';

export interface ProductProcess {
  pid: number;
  url: string;
  cpuMs(): number;
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM (drain and exit 0), SIGKILL if it takes more than 15 s. */
  stop(): Promise<void>;
}

export interface ProductSettings {
  databaseUrl: string;
  redisUrl: string;
  singerUrl: string;
  queuePrefix: string;
  /** ROLES and tuning knobs; override the defaults below. */
  env?: Record<string, string>;
}

export async function startProduct(settings: ProductSettings): Promise<ProductProcess> {
  const port = await findFreePort();
  const profileDir = process.env.BENCH_CPU_PROF;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      join(process.env.BENCH_PRODUCT_DIR ?? packageRoot, 'dist', 'src', 'cli.js'),
      'start',
    ],
    {
      cwd: packageRoot,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: settings.databaseUrl,
        REDIS_URL: settings.redisUrl,
        SINGER_URL: settings.singerUrl,
        QUEUE_PREFIX: settings.queuePrefix,
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PORT: String(port),
        ...settings.env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-20_000);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const pid = child.pid!;
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => ((exited = true), resolve())),
  );

  return {
    pid,
    url,
    cpuMs: () => processCpuMs(pid),
    async waitUntilReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      raisePriority(pid);
      while (Date.now() < deadline && !exited) {
        try {
          const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
          if (response.status === 200) {
            raisePriority(pid);
            return;
          }
        } catch {
          // not listening yet
        }
        await sleep(20);
      }
      throw new Error(
        `product process ${pid} not ready (${exited ? 'exited' : 'timed out'}):\n${stderr}`,
      );
    },
    async stop() {
      process.off('exit', killOnExit);
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
