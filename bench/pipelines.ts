/**
 * The pipelines the benchmark puts side by side, started the same way:
 *   push    — the product: trigger → outbox → poller → BullMQ → worker → Singer
 *             (one `push start` process, all roles: the default deployment);
 *   push-2p — the same product as two processes, ROLES=poller,http and ROLES=worker
 *             (README "Scaling out"): as many processes as the binlog peer runs;
 *   binlog  — the peer: binlog → zongji reader (binlog-reader-child.ts) → the same BullMQ
 *             queue → the product's own worker (`push start` with ROLES=worker,http);
 *   floor   — the least a polling outbox costs (floor-child.ts): the same trigger and claim,
 *             a POST per row straight to Singer, the rows deleted; every figure of push is
 *             also printed as a ratio to it;
 *   floor-client — the floor with push's own Singer client (axios) for its POSTs: what the
 *             project's fixed HTTP client alone adds to the floor.
 * Both deliver to the same stand-in Singer; "the product's CPU" is every process a
 * pipeline runs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import type { BinlogPeerSettings } from './binlog-reader-child.js';
import type { FloorSettings } from './floor-child.js';
import { startProduct, type ProductProcess } from './product-process.js';
import { totalCpuMs } from './process-cpu.js';
import { raisePriority } from './priority.js';

export type PipelineName = 'push' | 'push-2p' | 'binlog' | 'floor' | 'floor-client';

/** The pipelines that read the outbox (and so need the trigger). */
export function usesOutbox(pipeline: PipelineName): boolean {
  return pipeline !== 'binlog';
}

export interface PipelineContext {
  databaseUrl: string;
  database: string;
  redisUrl: string;
  singerUrl: string;
  queuePrefix: string;
  /** Tuning knobs for the product processes (POLL_INTERVAL_MS=…). */
  productEnv: Record<string, string>;
  /** Only the binlog peer uses these. */
  binlog?: {
    host: string;
    port: number;
    user: string;
    password: string;
    start: BinlogPeerSettings['start'];
  };
}

export interface RunningPipeline {
  pids: number[];
  /** CPU used so far by all of the pipeline's processes. */
  cpuMs(): number;
  waitUntilReady(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPipeline(
  name: PipelineName,
  ctx: PipelineContext,
): Promise<RunningPipeline> {
  const start = (roles: string | undefined) =>
    startProduct({
      databaseUrl: ctx.databaseUrl,
      redisUrl: ctx.redisUrl,
      singerUrl: ctx.singerUrl,
      queuePrefix: ctx.queuePrefix,
      env: { ...ctx.productEnv, ...(roles ? { ROLES: roles } : {}) },
    });
  if (name === 'push') return fromProcesses([await start(undefined)]);
  if (name === 'floor' || name === 'floor-client') {
    const floor = forkChild('./floor-child.js', 'BENCH_FLOOR', {
      databaseUrl: ctx.databaseUrl,
      singerUrl: ctx.singerUrl,
      batchSize: Number(ctx.productEnv.POLL_BATCH_SIZE ?? 500),
      pollIntervalMs: Number(ctx.productEnv.POLL_INTERVAL_MS ?? 5),
      concurrency: Number(ctx.productEnv.WORKER_CONCURRENCY ?? 64),
      client: name === 'floor' ? 'node-http' : 'push',
    } satisfies FloorSettings);
    return fromProcesses([], floor);
  }
  if (name === 'push-2p')
    return fromProcesses([await start('poller,http'), await start('worker,http')]);
  const product = await start('worker,http');
  if (!ctx.binlog)
    throw new Error('the binlog peer needs the replication account and a start position');
  const reader = forkChild('./binlog-reader-child.js', 'BENCH_PEER', {
    host: ctx.binlog.host,
    port: ctx.binlog.port,
    user: ctx.binlog.user,
    password: ctx.binlog.password,
    database: ctx.database,
    redisUrl: ctx.redisUrl,
    queuePrefix: ctx.queuePrefix,
    start: ctx.binlog.start,
  } satisfies BinlogPeerSettings);
  return fromProcesses([product], reader);
}

function fromProcesses(products: ProductProcess[], reader?: Child): RunningPipeline {
  const pids = [...products.map((p) => p.pid), ...(reader ? [reader.pid] : [])];
  return {
    pids,
    cpuMs: () => totalCpuMs(pids),
    async waitUntilReady() {
      await Promise.all([...products.map((p) => p.waitUntilReady()), reader?.ready]);
    },
    async stop() {
      await Promise.all([...products.map((p) => p.stop()), reader?.stop()]);
    },
  };
}

/** A benchmark-only process (the peer's reader, the floor), forked with its settings. */
interface Child {
  pid: number;
  ready: Promise<void>;
  stop(): Promise<void>;
}

function forkChild(file: string, envName: string, settings: object): Child {
  const child: ChildProcess = fork(fileURLToPath(new URL(file, import.meta.url)), [], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [envName]: JSON.stringify(settings) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF]
      : [],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  raisePriority(child.pid!);
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => {
      raisePriority(child.pid!);
      resolve();
    });
    void exited.then(() => reject(new Error(`${file} exited before it was ready`)));
  });
  return {
    pid: child.pid!,
    ready,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The binlog file and position now: where a reader starts to see what follows. */
export async function binlogPosition(knex: Knex): Promise<{ filename: string; position: number }> {
  const [rows] = (await knex.raw('SHOW MASTER STATUS')) as [
    Array<{ File: string; Position: number | string }>,
  ];
  const row = rows[0];
  if (!row) throw new Error('binary logging is off on this server: the binlog peer cannot run');
  return { filename: row.File, position: Number(row.Position) };
}
