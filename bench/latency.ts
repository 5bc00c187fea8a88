/**
 * (3) Latency at a steady rate: with the pipeline already running and warmed up, the
 * order service commits `rate` push-worthy changes a second for `durationS`; each push's
 * arrival at Singer minus its commit gives commit→Singer latency. Meanwhile the outbox
 * lag (age of the oldest unclaimed event, and how many) and the pushes not yet delivered
 * are sampled every 250 ms; "lag grows" if the undelivered count trends upward.
 * (4) CPU per delivered event is also taken over the load window.
 */
import type { Knex } from 'knex';
import { countUnclaimed, oldestUnclaimedAgeSeconds } from '../src/outbox/read-backlog.js';
import { clearPushTables, insertOrders, setTrigger } from './bench-database.js';
import { monotonicMs, sleep } from './clock.js';
import { binlogPosition, startPipeline, usesOutbox, type PipelineName } from './pipelines.js';
import { processCpuMs } from './process-cpu.js';
import { peakRssMiB } from './process-memory.js';
import { percentile, slope } from './stats.js';
import { runSteadyLoad } from './steady-load.js';
import { readMysqlStatus, statusPerPush, type MysqlStatus } from './mysql-status.js';
import { perEvent, readCommandStats } from './redis-commands.js';
import { redisCpuMs, type MeasureSetup } from './measure-setup.js';

export interface LatencyRun {
  pipeline: PipelineName;
  ratePerSecond: number;
  achievedRate: number;
  measured: number;
  missing: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * Commit → the poller's stamp (the pushes are in BullMQ by then), p50 and p99: the
   * poller's share of the latency; the rest is the worker's. Push only; ms resolution.
   */
  handOffP50Ms: number;
  handOffP99Ms: number;
  /** Age of the oldest unclaimed outbox event, sampled (push only; NaN for the peer). */
  outboxLagP50Ms: number;
  outboxLagMaxMs: number;
  outboxBacklogMax: number;
  /** Committed but not yet at Singer, sampled over the load. */
  undeliveredMax: number;
  /** Trend of the undelivered count over the load, events per second (≈0 when steady). */
  undeliveredSlopePerS: number;
  lagGrows: boolean;
  cpuUsPerEvent: number;
  /** The same per process, in start order (push-2p: the poller, then the worker). */
  cpuUsPerEventByProcess: number[];
  dbCpuUsPerEvent: number;
  redisCpuUsPerEvent: number;
  maxScheduleSlipMs: number;
  /** Redis commands and MariaDB statements / row operations per push over the load. */
  redisCommands?: ReturnType<typeof perEvent>;
  mysqlPerPush: MysqlStatus;
  /** The pipeline's CPU while idle after the run (polling and timers), % of one core. */
  idleCpuPercent: number;
  /** Each process's peak resident memory over its life (warm-up and load), MiB, in start order. */
  peakRssMiBByProcess: number[];
}

const WARM_UP_S = 3;
const IDLE_S = 5;

export async function measureLatency(
  pipeline: PipelineName,
  settings: { ratePerSecond: number; durationS: number },
  setup: MeasureSetup,
): Promise<LatencyRun> {
  const { knex, stub } = setup;
  const { ratePerSecond, durationS } = settings;
  await clearPushTables(knex);
  await setTrigger(knex, usesOutbox(pipeline));
  const warmCount = ratePerSecond * WARM_UP_S;
  const count = Math.round(ratePerSecond * durationS);
  const { firstId } = await insertOrders(knex, warmCount + count);
  await stub.reset();

  const ctx = setup.context(pipeline, await binlogPosition(knex));
  const running = await startPipeline(pipeline, ctx);
  try {
    await running.waitUntilReady();
    // Warm-up: the same load for a few seconds, not measured (JIT, connection pools).
    await runSteadyLoad(setup.databaseUrl, { firstId, count: warmCount, ratePerSecond });
    await stub.waitFor(warmCount, 30_000);
    await stub.reset();

    const samples: Array<{ at: number; lagMs: number; backlog: number; undelivered: number }> = [];
    let committed = 0;
    const loadFirstId = firstId + warmCount;
    const statusBefore = await readMysqlStatus(knex);
    const commandsBefore = setup.privateRedisUrl
      ? await readCommandStats(setup.privateRedisUrl)
      : undefined;
    const cpuBefore = running.cpuMs();
    const perPidBefore = running.pids.map((pid) => processCpuMs(pid));
    const dbCpuBefore = processCpuMs(setup.serverPids.mariadb);
    const redisCpuBefore = redisCpuMs(setup);
    const stopSampling = sampleEvery(250, async () => {
      const [{ backlog, oldestAgeSeconds }, delivered] = await Promise.all([
        usesOutbox(pipeline)
          ? outboxBacklog(knex)
          : Promise.resolve({ backlog: Number.NaN, oldestAgeSeconds: Number.NaN }),
        stub.count(),
      ]);
      samples.push({
        at: monotonicMs(),
        lagMs: oldestAgeSeconds * 1000,
        backlog,
        undelivered: committed - delivered.delivered,
      });
    });
    const load = await runSteadyLoad(setup.databaseUrl, {
      firstId: loadFirstId,
      count,
      ratePerSecond,
      onCommit: (soFar) => (committed = soFar),
    });
    await stopSampling();
    await stub.waitFor(count, 30_000);
    const cpu = running.cpuMs() - cpuBefore;
    const perPid = running.pids.map((pid, i) => processCpuMs(pid) - perPidBefore[i]!);
    const dbCpu = processCpuMs(setup.serverPids.mariadb) - dbCpuBefore;
    const redisCpu = redisCpuMs(setup) - redisCpuBefore;
    const statusAfter = await readMysqlStatus(knex);
    const commandsAfter = setup.privateRedisUrl
      ? await readCommandStats(setup.privateRedisUrl)
      : undefined;
    const receipts = await stub.receipts();
    const peakRssMiBByProcess = running.pids.map(peakRssMiB);
    await sleep(1_000);
    const idleFrom = running.cpuMs();
    await sleep(IDLE_S * 1000);
    const idleCpuPercent = ((running.cpuMs() - idleFrom) / (IDLE_S * 1000)) * 100;

    const usPerEvent = (cpuMs: number) => (cpuMs * 1000) / Math.max(receipts.orderIds.length, 1);
    const latencies: number[] = [];
    const received = new Map<string, number>();
    receipts.orderIds.forEach((orderId, i) => received.set(orderId, receipts.atMs[i]!));
    let missing = 0;
    for (const [orderId, committedAt] of load.commits) {
      const at = received.get(orderId);
      if (at === undefined) missing += 1;
      else latencies.push(at - committedAt);
    }
    latencies.sort((a, b) => a - b);
    const handOffs = usesOutbox(pipeline) ? await handOffTimes(knex, load.commits) : [];
    const lags = samples
      .map((s) => s.lagMs)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const undeliveredSlopePerS = slope(
      samples.map((s) => [(s.at - load.startedAt) / 1000, s.undelivered]),
    );
    return {
      pipeline,
      ratePerSecond,
      achievedRate: load.achievedRate,
      measured: latencies.length,
      missing,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? Number.NaN,
      handOffP50Ms: percentile(handOffs, 50),
      handOffP99Ms: percentile(handOffs, 99),
      outboxLagP50Ms: percentile(lags, 50),
      outboxLagMaxMs: lags.at(-1) ?? Number.NaN,
      outboxBacklogMax: Math.max(...samples.map((s) => s.backlog)),
      undeliveredMax: Math.max(...samples.map((s) => s.undelivered)),
      undeliveredSlopePerS,
      // Steady means the queue of undelivered pushes does not trend up by more than 1% of the rate.
      lagGrows: undeliveredSlopePerS > ratePerSecond * 0.01,
      cpuUsPerEvent: usPerEvent(cpu),
      cpuUsPerEventByProcess: perPid.map(usPerEvent),
      dbCpuUsPerEvent: usPerEvent(dbCpu),
      redisCpuUsPerEvent: usPerEvent(redisCpu),
      maxScheduleSlipMs: load.maxScheduleSlipMs,
      idleCpuPercent,
      peakRssMiBByProcess,
      redisCommands:
        commandsBefore && commandsAfter
          ? perEvent(commandsBefore, commandsAfter, receipts.orderIds.length)
          : undefined,
      mysqlPerPush: statusPerPush(statusBefore, statusAfter, receipts.orderIds.length),
    };
  } finally {
    await running.stop();
    await setup.cleanUp(ctx);
    await setTrigger(knex, true);
  }
}

/** Commit → handed_off_at for each order, sorted; the stamp is MariaDB's wall clock (ms). */
async function handOffTimes(knex: Knex, commits: Map<string, number>): Promise<number[]> {
  const wallMinusMonotonic = Date.now() - monotonicMs();
  const ids = [...commits.keys()].map(Number);
  const [rows] = (await knex.raw(
    `SELECT order_id, handed_off_at FROM order_events WHERE order_id BETWEEN ? AND ?`,
    [Math.min(...ids), Math.max(...ids)],
  )) as [Array<{ order_id: string; handed_off_at: Date | null }>];
  const times: number[] = [];
  for (const row of rows) {
    const committedAt = commits.get(String(row.order_id));
    if (committedAt === undefined || row.handed_off_at === null) continue;
    times.push(new Date(row.handed_off_at).getTime() - (committedAt + wallMinusMonotonic));
  }
  return times.sort((a, b) => a - b);
}

/** Runs `sample` every `ms` until the returned stop() is awaited. */
function sampleEvery(ms: number, sample: () => Promise<void>): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await sample().catch(() => undefined);
      await sleep(ms);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** The whole backlog (a bench's outbox stays small enough to count) and its oldest age. */
async function outboxBacklog(knex: Knex): Promise<{ backlog: number; oldestAgeSeconds: number }> {
  const [backlog, oldestAgeSeconds] = await Promise.all([
    countUnclaimed(knex, Number.MAX_SAFE_INTEGER - 1),
    oldestUnclaimedAgeSeconds(knex),
  ]);
  return { backlog, oldestAgeSeconds: oldestAgeSeconds ?? 0 };
}
