/**
 * (2) Drain rate: a backlog of N push-worthy changes is committed while no pipeline runs;
 * then the pipeline is started cold (a new process) and the benchmark waits for Singer to
 * have all N pushes. The rate is N over the time from the first push's arrival to the
 * last's, so process start-up (reported apart, as `startupMs`) does not dilute it.
 * CPU per event is measured from readiness to the end, over the pushes delivered then.
 */
import { changeOrders, clearPushTables, insertOrders, setTrigger } from './bench-database.js';
import { monotonicMs } from './clock.js';
import { binlogPosition, startPipeline, usesOutbox, type PipelineName } from './pipelines.js';
import { processCpuMs } from './process-cpu.js';
import { peakRssMiB } from './process-memory.js';
import { redisCpuMs, type MeasureSetup } from './measure-setup.js';
import { readMysqlStatus, statusPerPush, type MysqlStatus } from './mysql-status.js';
import { perEvent, readCommandStats } from './redis-commands.js';

export interface DrainRun {
  pipeline: PipelineName;
  events: number;
  delivered: number;
  eventsPerSecond: number;
  /** Spawn → first push at Singer. */
  startupMs: number;
  /** Spawn → last push at Singer. */
  totalMs: number;
  cpuUsPerEvent: number;
  /** The servers' CPU per event over the same window (NaN for a Redis not the benchmark's own). */
  dbCpuUsPerEvent: number;
  redisCpuUsPerEvent: number;
  repeats: number;
  /** Each process's peak resident memory over its life (start-up and drain), MiB, in start order. */
  peakRssMiBByProcess: number[];
  /** Redis commands per event over the whole drain (the benchmark's own Redis only). */
  redisCommands?: ReturnType<typeof perEvent>;
  /** MariaDB statements and row operations per push, from readiness to the end. */
  mysqlPerPush: MysqlStatus;
}

export async function measureDrain(
  pipeline: PipelineName,
  events: number,
  setup: MeasureSetup,
): Promise<DrainRun> {
  const { knex, stub } = setup;
  await clearPushTables(knex);
  // The peer reads the binlog; the outbox trigger is not part of its design.
  await setTrigger(knex, usesOutbox(pipeline));
  const { firstId, lastId } = await insertOrders(knex, events);
  const start = await binlogPosition(knex);
  await changeOrders(knex, firstId, lastId);
  await stub.reset();

  const commandsBefore = setup.privateRedisUrl
    ? await readCommandStats(setup.privateRedisUrl)
    : undefined;
  const ctx = setup.context(pipeline, start);
  const spawnedAt = monotonicMs();
  const running = await startPipeline(pipeline, ctx);
  try {
    await running.waitUntilReady();
    const statusBefore = await readMysqlStatus(knex);
    const readyCount = await stub.count();
    const readyCpu = running.cpuMs();
    const readyDbCpu = processCpuMs(setup.serverPids.mariadb);
    const readyRedisCpu = redisCpuMs(setup);
    const done = await stub.waitFor(events, 180_000);
    const cpu = running.cpuMs() - readyCpu;
    const dbCpu = processCpuMs(setup.serverPids.mariadb) - readyDbCpu;
    const redisCpu = redisCpuMs(setup) - readyRedisCpu;
    const statusAfter = await readMysqlStatus(knex);
    const receipts = await stub.receipts();
    const peakRssMiBByProcess = running.pids.map(peakRssMiB);
    const commandsAfter = setup.privateRedisUrl
      ? await readCommandStats(setup.privateRedisUrl)
      : undefined;
    const first = Math.min(...receipts.atMs);
    const last = Math.max(...receipts.atMs);
    const deliveredSinceReady = Math.max(done.delivered - readyCount.delivered, 1);
    return {
      pipeline,
      events,
      delivered: done.delivered,
      eventsPerSecond:
        done.delivered < events ? Number.NaN : (events - 1) / ((last - first) / 1000),
      startupMs: first - spawnedAt,
      totalMs: last - spawnedAt,
      cpuUsPerEvent: (cpu * 1000) / deliveredSinceReady,
      dbCpuUsPerEvent: (dbCpu * 1000) / deliveredSinceReady,
      redisCpuUsPerEvent: (redisCpu * 1000) / deliveredSinceReady,
      repeats: receipts.repeats,
      peakRssMiBByProcess,
      redisCommands:
        commandsBefore && commandsAfter
          ? perEvent(commandsBefore, commandsAfter, done.delivered)
          : undefined,
      mysqlPerPush: statusPerPush(statusBefore, statusAfter, deliveredSinceReady),
    };
  } finally {
    await running.stop();
    await setup.cleanUp(ctx);
    await setTrigger(knex, true);
  }
}
