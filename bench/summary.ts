/**
 * Runs → the figures of the report: the median of each figure over its runs, the ratios
 * between them, and each target of issues 5 and 14 with its verdict.
 */
import {
  againstFloor,
  costTargets,
  summarizeIdle,
  type FloorRatio,
  type IdleFigure,
} from './cost-summary.js';
import type { DrainRun } from './drain.js';
import type { IdleRun } from './idle.js';
import type { LatencyRun } from './latency.js';
import type { PipelineName } from './pipelines.js';
import { median, medianOf } from './stats.js';
import type { TriggerCostRun, UpdateKind } from './trigger-cost.js';

export interface TriggerCostFigure {
  server: string;
  kind: UpdateKind;
  connections: number;
  withoutTrigger: number;
  withTrigger: number;
  /** with / without (1 = free). */
  ratio: number;
  /** Throughput lost to the trigger, in percent. */
  costPercent: number;
  /**
   * The same for each run alone (push's and no trigger's slices of one run): how far single
   * runs stray from the median on this machine.
   */
  costPercentByRun: number[];
  /** Throughput lost to an empty trigger: the floor of any trigger on this server. */
  emptyTriggerCostPercent: number;
  /**
   * Throughput lost to push's trigger when it writes nothing: the empty trigger's cost, a
   * one-column condition, and opening and locking order_events for every UPDATE (MySQL
   * prelocks a trigger's tables).
   */
  inertTriggerCostPercent: number;
  /**
   * Throughput lost to push's trigger with a session variable in place of the outbox: its
   * condition without a table to prelock. Against the inert trigger: the prelocking.
   */
  tablelessTriggerCostPercent: number;
}

export interface DrainFigure {
  pipeline: PipelineName;
  eventsPerSecond: number;
  startupMs: number;
  cpuUsPerEvent: number;
  dbCpuUsPerEvent: number;
  redisCpuUsPerEvent: number;
  runs: number;
}

export interface LatencyFigure {
  pipeline: PipelineName;
  achievedRate: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  handOffP50Ms: number;
  handOffP99Ms: number;
  outboxLagP50Ms: number;
  outboxLagMaxMs: number;
  outboxBacklogMax: number;
  undeliveredMax: number;
  undeliveredSlopePerS: number;
  lagGrowsInRuns: number;
  idleCpuPercent: number;
  missing: number;
  cpuUsPerEvent: number;
  dbCpuUsPerEvent: number;
  redisCpuUsPerEvent: number;
  runs: number;
}

export interface Target {
  what: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

export interface Summary {
  triggerCost: TriggerCostFigure[];
  drain: DrainFigure[];
  latency: LatencyFigure[];
  idle: IdleFigure[];
  /** Every pipeline's figures over the floor's of the same run. */
  againstFloor: FloorRatio[];
  /** push's figures over those of the floor with push's own Singer client (floor-client). */
  againstClientFloor: FloorRatio[];
  ratios: {
    drainOverUpdateRate?: number;
    drainPushOverBinlog?: number;
    p50PushOverBinlog?: number;
    /** The same for push as two processes (push-2p). */
    drainPush2pOverBinlog?: number;
    p50Push2pOverBinlog?: number;
  };
  targets: Target[];
}

export function summarize(
  triggerRuns: Array<TriggerCostRun & { server: string }>,
  drainRuns: DrainRun[],
  latencyRuns: LatencyRun[],
  idleRuns: IdleRun[],
  drainServer: string,
): Summary {
  const triggerCost: TriggerCostFigure[] = [];
  for (const server of [...new Set(triggerRuns.map((r) => r.server))]) {
    for (const kind of ['status', 'other'] as const) {
      for (const connections of [1, 8]) {
        // In run order: the i-th of each variant was measured in the same run.
        const runsOf = (trigger: TriggerCostRun['trigger']) =>
          triggerRuns
            .filter(
              (r) =>
                r.server === server &&
                r.kind === kind &&
                r.connections === connections &&
                r.trigger === trigger,
            )
            .map((r) => r.updatesPerSecond);
        const of = (trigger: TriggerCostRun['trigger']) => median(runsOf(trigger));
        const withoutTriggerByRun = runsOf('none');
        const withoutTrigger = median(withoutTriggerByRun);
        const withTrigger = of('push');
        if (!Number.isFinite(withoutTrigger)) continue;
        const ratio = withTrigger / withoutTrigger;
        triggerCost.push({
          server,
          kind,
          connections,
          withoutTrigger,
          withTrigger,
          ratio,
          costPercent: (1 - ratio) * 100,
          costPercentByRun: runsOf('push').map((u, i) => (1 - u / withoutTriggerByRun[i]!) * 100),
          emptyTriggerCostPercent: (1 - of('empty') / withoutTrigger) * 100,
          inertTriggerCostPercent: (1 - of('inert') / withoutTrigger) * 100,
          tablelessTriggerCostPercent: (1 - of('tableless') / withoutTrigger) * 100,
        });
      }
    }
  }

  const pipelines = (runs: Array<{ pipeline: PipelineName }>) => [
    ...new Set(runs.map((r) => r.pipeline)),
  ];
  const drain: DrainFigure[] = pipelines(drainRuns).map((pipeline) => {
    const runs = drainRuns.filter((r) => r.pipeline === pipeline);
    return {
      pipeline,
      eventsPerSecond: medianOf(runs, (r) => r.eventsPerSecond),
      startupMs: medianOf(runs, (r) => r.startupMs),
      cpuUsPerEvent: medianOf(runs, (r) => r.cpuUsPerEvent),
      dbCpuUsPerEvent: medianOf(runs, (r) => r.dbCpuUsPerEvent),
      redisCpuUsPerEvent: medianOf(runs, (r) => r.redisCpuUsPerEvent),
      runs: runs.length,
    };
  });
  const latency: LatencyFigure[] = pipelines(latencyRuns).map((pipeline) => {
    const runs = latencyRuns.filter((r) => r.pipeline === pipeline);
    return {
      pipeline,
      achievedRate: medianOf(runs, (r) => r.achievedRate),
      p50Ms: medianOf(runs, (r) => r.p50Ms),
      p95Ms: medianOf(runs, (r) => r.p95Ms),
      p99Ms: medianOf(runs, (r) => r.p99Ms),
      maxMs: medianOf(runs, (r) => r.maxMs),
      handOffP50Ms: medianOf(runs, (r) => r.handOffP50Ms),
      handOffP99Ms: medianOf(runs, (r) => r.handOffP99Ms),
      outboxLagP50Ms: medianOf(runs, (r) => r.outboxLagP50Ms),
      outboxLagMaxMs: medianOf(runs, (r) => r.outboxLagMaxMs),
      outboxBacklogMax: medianOf(runs, (r) => r.outboxBacklogMax),
      undeliveredMax: medianOf(runs, (r) => r.undeliveredMax),
      undeliveredSlopePerS: medianOf(runs, (r) => r.undeliveredSlopePerS),
      lagGrowsInRuns: runs.filter((r) => r.lagGrows).length,
      idleCpuPercent: medianOf(runs, (r) => r.idleCpuPercent),
      missing: runs.reduce((sum, r) => sum + r.missing, 0),
      cpuUsPerEvent: medianOf(runs, (r) => r.cpuUsPerEvent),
      dbCpuUsPerEvent: medianOf(runs, (r) => r.dbCpuUsPerEvent),
      redisCpuUsPerEvent: medianOf(runs, (r) => r.redisCpuUsPerEvent),
      runs: runs.length,
    };
  });

  const pushDrain = drain.find((d) => d.pipeline === 'push');
  const peerDrain = drain.find((d) => d.pipeline === 'binlog');
  const pushLatency = latency.find((l) => l.pipeline === 'push');
  const peerLatency = latency.find((l) => l.pipeline === 'binlog');
  const updateRate = triggerCost.find(
    (t) => t.server === drainServer && t.kind === 'status' && t.connections === 8,
  )?.withTrigger;
  const splitDrain = drain.find((d) => d.pipeline === 'push-2p');
  const splitLatency = latency.find((l) => l.pipeline === 'push-2p');
  const ratios: Summary['ratios'] = {
    drainOverUpdateRate:
      pushDrain && updateRate ? pushDrain.eventsPerSecond / updateRate : undefined,
    drainPushOverBinlog:
      pushDrain && peerDrain ? pushDrain.eventsPerSecond / peerDrain.eventsPerSecond : undefined,
    p50PushOverBinlog:
      pushLatency && peerLatency ? pushLatency.p50Ms / peerLatency.p50Ms : undefined,
    drainPush2pOverBinlog:
      splitDrain && peerDrain ? splitDrain.eventsPerSecond / peerDrain.eventsPerSecond : undefined,
    p50Push2pOverBinlog:
      splitLatency && peerLatency ? splitLatency.p50Ms / peerLatency.p50Ms : undefined,
  };

  const targets: Target[] = [];
  const add = (
    what: string,
    target: string,
    value: number | undefined,
    unit: string,
    ok: (v: number) => boolean,
  ) =>
    targets.push({
      what,
      target,
      measured:
        value === undefined || !Number.isFinite(value) ? 'not measured' : `${format(value)}${unit}`,
      met: value === undefined || !Number.isFinite(value) ? undefined : ok(value),
    });
  add('drain rate', '≥ 3,000 events/s', pushDrain?.eventsPerSecond, ' events/s', (v) => v >= 3000);
  add(
    'drain ÷ with-trigger UPDATE rate (8 conn.)',
    '≥ 0.5×',
    ratios.drainOverUpdateRate,
    '×',
    (v) => v >= 0.5,
  );
  add('p50 commit→Singer at 500/s', '≤ 15 ms', pushLatency?.p50Ms, ' ms', (v) => v <= 15);
  add('p99 commit→Singer at 500/s', '≤ 60 ms', pushLatency?.p99Ms, ' ms', (v) => v <= 60);
  add(
    'outbox lag grows at 500/s',
    'never',
    pushLatency?.lagGrowsInRuns,
    ` of ${pushLatency?.runs ?? 0} runs`,
    (v) => v === 0,
  );
  for (const t of triggerCost.filter((t) => t.connections === 8)) {
    const limit = t.kind === 'status' ? 15 : 3;
    const kindText =
      t.kind === 'status' ? 'status updates' : 'updates changing neither status nor reason';
    add(
      `trigger cost, ${kindText}, 8 conn. (${t.server})`,
      `≤ ${limit}%`,
      t.costPercent,
      '%',
      (v) => v <= limit,
    );
  }
  add(
    'product CPU per delivered event (drain)',
    '≤ 400 µs',
    pushDrain?.cpuUsPerEvent,
    ' µs',
    (v) => v <= 400,
  );
  add(
    'product CPU per delivered event (500/s)',
    '≤ 400 µs',
    pushLatency?.cpuUsPerEvent,
    ' µs',
    (v) => v <= 400,
  );
  add('drain vs binlog peer', '≥ 1.0×', ratios.drainPushOverBinlog, '×', (v) => v >= 1);
  add('p50 latency vs binlog peer', '≤ 2×', ratios.p50PushOverBinlog, '×', (v) => v <= 2);
  if (splitDrain || splitLatency) {
    add(
      'drain rate, push as 2 processes',
      '≥ 3,000 events/s',
      splitDrain?.eventsPerSecond,
      ' events/s',
      (v) => v >= 3000,
    );
    add('p50 at 500/s, push as 2 processes', '≤ 15 ms', splitLatency?.p50Ms, ' ms', (v) => v <= 15);
    add(
      'drain vs binlog peer, push as 2 processes',
      '≥ 1.0×',
      ratios.drainPush2pOverBinlog,
      '×',
      (v) => v >= 1,
    );
    add(
      'p50 vs binlog peer, push as 2 processes',
      '≤ 2×',
      ratios.p50Push2pOverBinlog,
      '×',
      (v) => v <= 2,
    );
  }
  const idle = summarizeIdle(idleRuns);
  const floor = againstFloor(drain, latency);
  costTargets(idle, floor, add);
  return {
    triggerCost,
    drain,
    latency,
    idle,
    againstFloor: floor,
    againstClientFloor: againstFloor(drain, latency, 'floor-client'),
    ratios,
    targets,
  };
}

/** Three significant figures, thousands separated; enough for figures this noisy. */
export function format(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
