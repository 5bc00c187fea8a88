/**
 * (6) What a quiet pipeline costs, and how fast it wakes. The pipeline is started and sent
 * one change (its first push, not counted); then, with no traffic at all:
 *
 * - for `idleSeconds`: its CPU (% of one core), MariaDB's and Redis's CPU, the queries a
 *   second it sends MariaDB — the private server's global `Questions` delta, less the
 *   benchmark's own probes (nothing else connects to that server meanwhile) — and the Redis
 *   commands a second (INFO commandstats of the benchmark's own Redis);
 * - `trials` times: `silenceSeconds` of silence (and a random part of up to a second, below),
 *   then one change; commit → Singer.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { clearPushTables, insertOrders, PUSH_WORTHY_CHANGE } from './bench-database.js';
import { monotonicMs, sleep } from './clock.js';
import { binlogPosition, startPipeline, type PipelineName } from './pipelines.js';
import { processCpuMs } from './process-cpu.js';
import { redisCpuMs, type MeasureSetup } from './measure-setup.js';
import { perEvent, readCommandStats } from './redis-commands.js';
import { percentile } from './stats.js';

export interface IdleRun {
  pipeline: PipelineName;
  idleSeconds: number;
  cpuPercent: number;
  /**
   * The same in 10 s slices of the window, in order: the first slices after activity carry
   * V8's clean-up of a process gone quiet (its memory reducer's full GCs), the last ones
   * the steady cost of waiting.
   */
  cpuPercentBySlice: number[];
  dbCpuPercent: number;
  redisCpuPercent: number;
  queriesPerSecond: number;
  /** Redis commands a second while idle, busiest first (the benchmark's own Redis only). */
  redisCommandsPerSecond?: Array<{ command: string; perSecond: number }>;
  silenceSeconds: number;
  /** Commit → Singer of each first push after silence, in trial order. */
  firstPushMs: number[];
  firstPushP50Ms: number;
  firstPushP99Ms: number;
  firstPushMaxMs: number;
}

const SETTLE_MS = 3_000;
const SLICE_MS = 10_000;

export async function measureIdle(
  pipeline: PipelineName,
  settings: { idleSeconds: number; silenceSeconds: number; trials: number },
  setup: MeasureSetup,
): Promise<IdleRun> {
  const { knex, stub } = setup;
  await clearPushTables(knex);
  const { firstId } = await insertOrders(knex, settings.trials + 1);
  await stub.reset();
  // The order service's connection and the probe's, opened before the pipeline starts.
  const orderService = await createConnection({ uri: setup.databaseUrl });
  const probe = await createConnection({ uri: setup.databaseUrl });
  const ctx = setup.context(pipeline, await binlogPosition(knex));
  const running = await startPipeline(pipeline, ctx);
  try {
    await running.waitUntilReady();
    await firstPushAfter(0, firstId, orderService, setup);
    await sleep(SETTLE_MS);

    const questionsBefore = await questions(probe);
    const commandsBefore = setup.privateRedisUrl
      ? await readCommandStats(setup.privateRedisUrl)
      : undefined;
    const from = monotonicMs();
    const cpuBefore = running.cpuMs();
    const dbCpuBefore = processCpuMs(setup.serverPids.mariadb);
    const redisCpuBefore = redisCpuMs(setup);
    const cpuPercentBySlice: number[] = [];
    for (let left = settings.idleSeconds * 1000; left > 0; left -= SLICE_MS) {
      const sliceFrom = running.cpuMs();
      const sliceMs = Math.min(SLICE_MS, left);
      await sleep(sliceMs);
      cpuPercentBySlice.push(((running.cpuMs() - sliceFrom) / sliceMs) * 100);
    }
    const cpu = running.cpuMs() - cpuBefore;
    const dbCpu = processCpuMs(setup.serverPids.mariadb) - dbCpuBefore;
    const redisCpu = redisCpuMs(setup) - redisCpuBefore;
    const seconds = (monotonicMs() - from) / 1000;
    // The second probe is counted in its own answer; the first was counted before it.
    const queries = (await questions(probe)) - questionsBefore - 1;
    const commandsAfter = setup.privateRedisUrl
      ? await readCommandStats(setup.privateRedisUrl)
      : undefined;

    const firstPushMs: number[] = [];
    for (let trial = 1; trial <= settings.trials; trial++) {
      firstPushMs.push(
        await firstPushAfter(settings.silenceSeconds * 1000, firstId + trial, orderService, setup),
      );
    }
    const sorted = [...firstPushMs].sort((a, b) => a - b);
    const percent = (ms: number) => (ms / (seconds * 1000)) * 100;
    return {
      pipeline,
      idleSeconds: seconds,
      cpuPercent: percent(cpu),
      cpuPercentBySlice,
      dbCpuPercent: percent(dbCpu),
      redisCpuPercent: percent(redisCpu),
      queriesPerSecond: queries / seconds,
      redisCommandsPerSecond:
        commandsBefore && commandsAfter
          ? perEvent(commandsBefore, commandsAfter, seconds).map((c) => ({
              command: c.command,
              perSecond: c.callsPerEvent,
            }))
          : undefined,
      silenceSeconds: settings.silenceSeconds,
      firstPushMs,
      firstPushP50Ms: percentile(sorted, 50),
      firstPushP99Ms: percentile(sorted, 99),
      firstPushMaxMs: sorted.at(-1) ?? Number.NaN,
    };
  } finally {
    await running.stop();
    await Promise.all([orderService.end(), probe.end()]);
    await setup.cleanUp(ctx);
  }
}

/**
 * How long a trial's silence lasts: `silenceMs` and a random part of up to SILENCE_JITTER_MS.
 * A quiet poller's sleeps follow a fixed schedule from the last push (doubling up to its
 * idle interval), so a fixed silence would commit at the same point of that schedule in every
 * trial, and the trials would measure one wake-up delay twenty times (seen: p50 108 ms, p99
 * 119 ms, where other runs gave 35–50 and 60–110). The jitter spans several idle intervals
 * (110 ms by default), so the commits land anywhere in the poller's sleep, as real ones do.
 */
export const SILENCE_JITTER_MS = 1_000;
export function trialSilenceMs(silenceMs: number, random: () => number = Math.random): number {
  return silenceMs + Math.floor(random() * SILENCE_JITTER_MS);
}

/** Waits a trial's silence, commits one push-worthy change to `orderId`; commit → Singer, ms. */
async function firstPushAfter(
  silenceMs: number,
  orderId: number,
  orderService: Connection,
  setup: MeasureSetup,
): Promise<number> {
  const before = await setup.stub.count();
  await sleep(trialSilenceMs(silenceMs));
  await orderService.query(`UPDATE orders SET ${PUSH_WORTHY_CHANGE} WHERE id = ?`, [orderId]);
  const committedAt = monotonicMs();
  const after = await setup.stub.waitFor(before.delivered + 1, 30_000);
  if (after.delivered <= before.delivered) throw new Error(`no push for order ${orderId} in 30 s`);
  const receipts = await setup.stub.receipts();
  const at = receipts.atMs[receipts.orderIds.lastIndexOf(String(orderId))];
  if (at === undefined) throw new Error(`Singer got a push, but not order ${orderId}'s`);
  return at - committedAt;
}

async function questions(connection: Connection): Promise<number> {
  const [rows] = (await connection.query("SHOW GLOBAL STATUS LIKE 'Questions'")) as unknown as [
    Array<{ Value: string }>,
  ];
  return Number(rows[0]?.Value);
}
