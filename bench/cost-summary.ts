/**
 * Issue 14's figures: what a quiet push costs (idle runs), and every figure of the other
 * pipelines as a ratio to the floor's of the same run (floor-child.ts), with the targets.
 */
import type { DrainFigure, LatencyFigure } from './summary.js';
import type { IdleRun } from './idle.js';
import type { PipelineName } from './pipelines.js';
import { median, medianOf, percentile } from './stats.js';

export interface IdleFigure {
  pipeline: PipelineName;
  cpuPercent: number;
  dbCpuPercent: number;
  redisCpuPercent: number;
  queriesPerSecond: number;
  silenceSeconds: number;
  /** Over every trial of every run (not a median of runs: p99 wants all the trials). */
  firstPushP50Ms: number;
  firstPushP99Ms: number;
  firstPushMaxMs: number;
  trials: number;
  runs: number;
}

/** A pipeline's figures divided by the floor's (> 1 = more than the floor). */
export interface FloorRatio {
  pipeline: PipelineName;
  drainRate?: number;
  /** Product + MariaDB + Redis CPU per delivered push, in the drain and at 500/s. */
  drainCpuUsPerPush?: number;
  drainCpu?: number;
  steadyCpuUsPerPush?: number;
  steadyCpu?: number;
  p50?: number;
  p99?: number;
}

/** Product + MariaDB + Redis CPU per delivered push (NaN parts, a shared Redis, count as 0). */
export function totalCpuUs(f: {
  cpuUsPerEvent: number;
  dbCpuUsPerEvent: number;
  redisCpuUsPerEvent: number;
}): number {
  return [f.cpuUsPerEvent, f.dbCpuUsPerEvent, f.redisCpuUsPerEvent]
    .filter(Number.isFinite)
    .reduce((sum, us) => sum + us, 0);
}

export function summarizeIdle(idleRuns: IdleRun[]): IdleFigure[] {
  return [...new Set(idleRuns.map((r) => r.pipeline))].map((pipeline) => {
    const runs = idleRuns.filter((r) => r.pipeline === pipeline);
    const trials = runs.flatMap((r) => r.firstPushMs).sort((a, b) => a - b);
    return {
      pipeline,
      cpuPercent: medianOf(runs, (r) => r.cpuPercent),
      dbCpuPercent: medianOf(runs, (r) => r.dbCpuPercent),
      redisCpuPercent: medianOf(runs, (r) => r.redisCpuPercent),
      queriesPerSecond: medianOf(runs, (r) => r.queriesPerSecond),
      silenceSeconds: median(runs.map((r) => r.silenceSeconds)),
      firstPushP50Ms: percentile(trials, 50),
      firstPushP99Ms: percentile(trials, 99),
      firstPushMaxMs: trials.at(-1) ?? Number.NaN,
      trials: trials.length,
      runs: runs.length,
    };
  });
}

export function againstFloor(
  drain: DrainFigure[],
  latency: LatencyFigure[],
  floor: 'floor' | 'floor-client' = 'floor',
): FloorRatio[] {
  const floorDrain = drain.find((d) => d.pipeline === floor);
  const floorLatency = latency.find((l) => l.pipeline === floor);
  if (!floorDrain && !floorLatency) return [];
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b;
  // Against the floor with push's client, only push itself is of interest.
  const pipelines = [...new Set([...drain, ...latency].map((f) => f.pipeline))].filter((p) =>
    floor === 'floor' ? p !== 'floor' : p.startsWith('push'),
  );
  return pipelines.map((pipeline) => {
    const d = drain.find((f) => f.pipeline === pipeline);
    const l = latency.find((f) => f.pipeline === pipeline);
    return {
      pipeline,
      drainRate: ratio(d?.eventsPerSecond, floorDrain?.eventsPerSecond),
      drainCpuUsPerPush: d && totalCpuUs(d),
      drainCpu: ratio(d && totalCpuUs(d), floorDrain && totalCpuUs(floorDrain)),
      steadyCpuUsPerPush: l && totalCpuUs(l),
      steadyCpu: ratio(l && totalCpuUs(l), floorLatency && totalCpuUs(floorLatency)),
      p50: ratio(l?.p50Ms, floorLatency?.p50Ms),
      p99: ratio(l?.p99Ms, floorLatency?.p99Ms),
    };
  });
}

/** Issue 14's targets, for push as deployed (one process). */
export function costTargets(
  idle: IdleFigure[],
  floor: FloorRatio[],
  add: (
    what: string,
    target: string,
    value: number | undefined,
    unit: string,
    ok: (v: number) => boolean,
  ) => void,
): void {
  const quiet = idle.find((f) => f.pipeline === 'push');
  const push = floor.find((f) => f.pipeline === 'push');
  add('idle push start: CPU (issue 14)', '≤ 1% of a core', quiet?.cpuPercent, '%', (v) => v <= 1);
  add('idle: queries/s to MySQL', '≤ 10', quiet?.queriesPerSecond, ' q/s', (v) => v <= 10);
  add(
    `first push after ${quiet?.silenceSeconds ?? '?'} s of silence, p99 (${quiet?.trials ?? 0} trials)`,
    '≤ 150 ms',
    quiet?.firstPushP99Ms,
    ' ms',
    (v) => v <= 150,
  );
  add('drain ÷ floor', '≥ 0.6×', push?.drainRate, '×', (v) => v >= 0.6);
  add('CPU per push ÷ floor, drain', '≤ 2×', push?.drainCpu, '×', (v) => v <= 2);
  add('CPU per push ÷ floor, 500/s', '≤ 2×', push?.steadyCpu, '×', (v) => v <= 2);
  add('p50 at 500/s ÷ floor', '≤ 3×', push?.p50, '×', (v) => v <= 3);
  add('p99 at 500/s ÷ floor', '≤ 3×', push?.p99, '×', (v) => v <= 3);
}
