/**
 * A throwaway mariadbd with binary logging on: `mariadb-install-db` into a temp dir, its
 * own free port and socket, removed on stop (or when this process exits). The benchmark
 * runs one set up like production RDS; the tests run RDS-like ones for the least-privilege
 * and error-1419 checks. Callers add the server settings that differ.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { findExecutable, findFreePort, stopProcess } from './local-process.js';

const execFileAsync = promisify(execFile);

export interface LocalMariaDbOptions {
  /** Settings beyond the common ones (binlog format, durability, trust flag…). */
  serverArgs: string[];
  /** InnoDB sizes, for both mariadb-install-db and mariadbd. */
  innodbArgs: string[];
  /** Temp dir name prefix, e.g. `push-rds-`. */
  label: string;
  readyTimeoutMs?: number;
  stopGraceMs?: number;
  /** How a port is chosen for each attempt (tests); a free one by default. */
  choosePort?: () => Promise<number>;
}

export interface LocalMariaDb {
  port: number;
  pid: number;
  /** `mysql://root@127.0.0.1:<port>/` (no database). */
  rootUrl: string;
  stop(): Promise<void>;
}

/** Whether this machine has the MariaDB server binaries (apt-get install mariadb-server). */
export async function findMariaDbBinaries(): Promise<
  { mariadbd: string; installDb: string } | { missing: string[] }
> {
  const mariadbd = await findExecutable('mariadbd');
  const installDb = await findExecutable('mariadb-install-db');
  if (mariadbd && installDb) return { mariadbd, installDb };
  return {
    missing: [!mariadbd && 'mariadbd', !installDb && 'mariadb-install-db'].filter(
      (name): name is string => Boolean(name),
    ),
  };
}

export async function startLocalMariaDb(options: LocalMariaDbOptions): Promise<LocalMariaDb> {
  const binaries = await findMariaDbBinaries();
  if ('missing' in binaries) {
    throw new Error(
      `${binaries.missing.join(' and ')} not found (apt-get install -y mariadb-server)`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), options.label));
  const datadir = join(dir, 'data');
  const errorLog = join(dir, 'error.log');
  // mariadbd refuses to run as root unless told to, and CI runs as root.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  try {
    await execFileAsync(
      binaries.installDb,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...asRoot,
        ...options.innodbArgs,
      ],
      { timeout: 120_000 },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${outputOf(error)}`, { cause: error });
  }

  let lastError: unknown;
  const socket = join(dir, 'mysqld.sock');
  // A free port can be taken between choosing it and binding it; try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await (options.choosePort ?? findFreePort)();
    const child = spawn(
      binaries.mariadbd,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--log-error=${errorLog}`,
        `--tmpdir=${dir}`,
        `--log-bin=${join(datadir, 'binlog')}`,
        '--server-id=1',
        '--skip-name-resolve',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        '--performance-schema=OFF',
        ...options.serverArgs,
        ...options.innodbArgs,
        ...asRoot,
      ],
      { stdio: 'ignore' },
    );
    const killOnExit = () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', killOnExit);
    const rootUrl = `mysql://root@127.0.0.1:${port}/`;
    try {
      await waitUntilReady(rootUrl, socket, child, errorLog, options.readyTimeoutMs ?? 60_000);
    } catch (error) {
      lastError = error;
      process.off('exit', killOnExit);
      await stopProcess(child, options.stopGraceMs);
      if (/address already in use|bind on tcp\/ip port/i.test(await tail(errorLog))) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    let stopped = false;
    return {
      port,
      pid: child.pid!,
      rootUrl,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.off('exit', killOnExit);
        await stopProcess(child, options.stopGraceMs);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error('mariadbd could not bind a free port in 3 attempts', { cause: lastError });
}

/**
 * Ready when the server on the port is this one: another private server started at the same
 * moment may have been given the same free port and bound it first, and answers while ours
 * fails to bind (the caller then tries another port). Its socket path tells them apart.
 */
async function waitUntilReady(
  rootUrl: string,
  socket: string,
  child: ChildProcess,
  errorLog: string,
  timeoutMs: number,
): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline && !exited) {
    try {
      const connection = await createConnection({ uri: rootUrl, connectTimeout: 1_000 });
      try {
        const [rows] = await connection.query<RowDataPacket[]>('SELECT @@socket AS socket');
        const answering = rows[0]?.socket;
        if (answering === socket) return;
        lastError = new Error(`another server answers on this port (its socket: ${answering})`);
      } finally {
        await connection.end();
      }
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const why = exited
    ? 'exited during start-up'
    : `did not accept connections in ${timeoutMs / 1000} s`;
  throw new Error(`mariadbd ${why}. Last lines of ${errorLog}:\n${await tail(errorLog)}`, {
    cause: lastError,
  });
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no error log)';
  }
}

function outputOf(error: unknown): string {
  const { stdout, stderr, message } = error as {
    stdout?: string;
    stderr?: string;
    message?: string;
  };
  return [message, stderr, stdout].filter(Boolean).join('\n');
}
