/** What the drain and latency measurements share: the database, the stand-in Singer, a fresh context per run. */
import type { Knex } from 'knex';
import { processCpuMs } from './process-cpu.js';
import type { PipelineContext, PipelineName } from './pipelines.js';
import type { StubSingerProcess } from './stub-singer-process.js';

export interface MeasureSetup {
  knex: Knex;
  /** mysql://…/<bench database>, for the load generator. */
  databaseUrl: string;
  stub: StubSingerProcess;
  /** The servers' pids, for their CPU per event (Redis only when it is the benchmark's own). */
  serverPids: { mariadb: number; redis?: number };
  /** The Redis the pipelines use, when it is the benchmark's own (for INFO commandstats). */
  privateRedisUrl?: string;
  /** A fresh queue prefix and settings for one run of one pipeline. */
  context: (
    pipeline: PipelineName,
    binlogStart: { filename: string; position: number },
  ) => PipelineContext;
  /** Removes what a run left in Redis. */
  cleanUp: (ctx: PipelineContext) => Promise<void>;
}

/** CPU of the benchmark's own Redis so far; NaN when Redis is shared (not ours to count). */
export function redisCpuMs(setup: MeasureSetup): number {
  return setup.serverPids.redis === undefined ? Number.NaN : processCpuMs(setup.serverPids.redis);
}
