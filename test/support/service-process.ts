// The real product as a child process: `node dist/src/cli.js start`, configured only through its
// environment (SPEC §6), so fault tests can SIGKILL it, SIGTERM it and start it again exactly as an
// operator or a crashing host would. Needs `npm run build` first (the tests' command does it).
//
// Every process started here is remembered; stopAllServiceProcesses() (in afterEach/afterAll)
// SIGKILLs whatever a failed test left running, so no child outlives its test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { findFreePort } from '../../bench/local-process.js';

export { findFreePort };

export const CLI_PATH = join(packageRoot, 'dist', 'src', 'cli.js');

/** Output kept per process for diagnostics (the tail; LOG_LEVEL=warn keeps it small anyway). */
const MAX_OUTPUT_CHARS = 200_000;

export interface ServiceProcessOptions {
  /** Shown in messages, to tell processes apart: `poller-1`, `after-crash`. */
  name: string;
  databaseUrl: string;
  redisUrl: string;
  singerUrl: string;
  queuePrefix: string;
  /** Anything else for the process (ROLES, PUSH_CRASH_AT, SHUTDOWN_GRACE_MS, …); overrides defaults. */
  env?: Record<string, string>;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ReadyzAnswer {
  status: number;
  body:
    | { status?: string; checks?: Record<string, string>; details?: Record<string, string> }
    | undefined;
}

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** `http://127.0.0.1:<port>`: probes and metrics whatever its ROLES, the dashboard with http. */
  readonly url: string;
  /** Set once it has exited. */
  readonly exitStatus: ExitStatus | undefined;
  /** stdout and stderr interleaved, as captured so far (the tail, from a line's start). */
  output(): string;
  /** How many lines it has written in all (the output keeps only the tail). */
  lineCount(): number;
  /** Sends a signal (default SIGKILL); does nothing once it has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with how it ended; rejects after `timeoutMs` with its output. */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /** Resolves once GET /readyz answers 200; rejects if it exits first or after `timeoutMs`. */
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** One GET /readyz; rejects when nothing answers. */
  readyz(): Promise<ReadyzAnswer>;
  /** One GET of `path`; rejects unless it answers within `timeoutMs` (as a probe must). */
  get(path: string, timeoutMs?: number): Promise<{ status: number; text: string }>;
  /** SIGKILLs it if still running and waits for the exit. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ServiceProcess>();
// A test file that dies (a timeout, a crash) must not leave `push start` processes behind.
process.once('exit', () => {
  for (const service of running) service.kill('SIGKILL');
});

/** Settings every fault test wants: quick polling, quick retries, quick return of a dead worker's jobs. */
const DEFAULT_ENV: Record<string, string> = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  POLL_INTERVAL_MS: '20',
  POLL_ERROR_BACKOFF_MAX_MS: '500',
  WORKER_LOCK_MS: '2000',
  DELIVERY_BACKOFF_BASE_MS: '50',
  DELIVERY_BACKOFF_MAX_MS: '500',
  ORDER_WAIT_MS: '50',
  SINGER_TIMEOUT_MS: '5000',
  SHUTDOWN_GRACE_MS: '10000',
};

export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` before the fault tests`);
  }
  const port = options.env?.PORT ? Number(options.env.PORT) : await findFreePort();
  const env: Record<string, string> = {
    // Only what node needs from the parent: no stray PUSH_CRASH_AT, ROLES or NODE_OPTIONS.
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    ...DEFAULT_ENV,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    SINGER_URL: options.singerUrl,
    QUEUE_PREFIX: options.queuePrefix,
    PORT: String(port),
    ...options.env,
  };
  const child: ChildProcess = spawn(process.execPath, [CLI_PATH, 'start'], {
    cwd: packageRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${options.name}`);

  let output = '';
  let lines = 0;
  const capture = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines += 1;
    output += text;
    if (output.length > MAX_OUTPUT_CHARS) {
      // Cut at a line's start, so a test reading the tail line by line never meets half a line.
      const cut = output.indexOf('\n', output.length - MAX_OUTPUT_CHARS / 2);
      output = cut === -1 ? output.slice(-MAX_OUTPUT_CHARS / 2) : output.slice(cut + 1);
    }
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);

  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = { code, signal };
      running.delete(service);
      resolve(exitStatus);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const describe = () => `${options.name} (pid ${pid}, ${url})`;

  const get = async (path: string, timeoutMs = 5_000) => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, text: await response.text() };
  };

  const readyz = async (): Promise<ReadyzAnswer> => {
    const { status, text } = await get('/readyz');
    let body: ReadyzAnswer['body'];
    try {
      body = JSON.parse(text) as ReadyzAnswer['body'];
    } catch {
      body = undefined;
    }
    return { status, body };
  };

  const service: ServiceProcess = {
    name: options.name,
    pid,
    url,
    get exitStatus() {
      return exitStatus;
    },
    output: () => output,
    lineCount: () => lines,
    kill(signal = 'SIGKILL') {
      if (exitStatus === undefined) child.kill(signal);
    },
    async waitForExit(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `${describe()} did not exit within ${timeoutMs} ms. Output:\n${tail(output)}`,
              ),
            ),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([exited, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async waitUntilReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        if (exitStatus) {
          throw new Error(
            `${describe()} exited (${JSON.stringify(exitStatus)}) before it was ready. Output:\n${tail(output)}`,
          );
        }
        try {
          const answer = await readyz();
          if (answer.status === 200) return;
          last = `${answer.status} ${JSON.stringify(answer.body)}`;
        } catch (err) {
          last = (err as Error).message;
        }
        await sleep(50);
      }
      throw new Error(
        `${describe()} not ready within ${timeoutMs} ms (last: ${last}). Output:\n${tail(output)}`,
      );
    },
    readyz,
    get,
    async stop() {
      if (exitStatus) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  running.add(service);
  return service;
}

/** SIGKILLs every service process still running (for afterEach / afterAll). */
export async function stopAllServiceProcesses(): Promise<void> {
  await Promise.all([...running].map((service) => service.stop()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(text: string, lines = 60): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n') || '(no output)';
}
