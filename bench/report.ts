/** The printed table and the JSON file: the same figures, one for people, one for scripts. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root.js';
import type { FloorRatio } from './cost-summary.js';
import type { MachineInfo, ServerInfo } from './machine-info.js';
import type { BenchOptions } from './options.js';
import { format, type Summary } from './summary.js';

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  options: Omit<BenchOptions, 'parts'> & { parts: string[] };
  machine: MachineInfo;
  /** Where Redis was and how the processes were scheduled. */
  setup: { redis: string; priority: string };
  servers: ServerInfo[];
  summary: Summary;
  runs: Record<string, unknown[]>;
}

export function formatReport(report: BenchReport): string {
  const { machine, summary, options } = report;
  const lines: string[] = [];
  const table = (header: string[], rows: string[][]) => {
    const widths = header.map((h, i) =>
      Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)),
    );
    const line = (cells: string[]) =>
      '  ' +
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    lines.push(
      line(header),
      '  ' + widths.map((w) => '-'.repeat(w)).join('  '),
      ...rows.map(line),
      '',
    );
  };

  lines.push(
    `push benchmark — ${report.startedAt}${options.quick ? ' (QUICK: smoke sizes, not for comparison)' : ''}`,
    `each figure is the median of ${options.runs} run(s)${options.label ? `; label: ${options.label}` : ''}`,
    `machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGb} GB, Node ${machine.node}, ` +
      `Redis ${machine.redisVersion}, load average at start ${machine.loadAverageAtStart.join(' ')}`,
    `redis: ${report.setup.redis}; scheduling: ${report.setup.priority}`,
    ...(Object.keys(options.productEnv).length > 0
      ? [`product env: ${JSON.stringify(options.productEnv)}`]
      : []),
    '',
  );
  table(
    [
      'server',
      'version',
      'log_bin',
      'binlog_format',
      'sync_binlog',
      'innodb_flush_log_at_trx_commit',
      'buffer pool',
    ],
    report.servers.map((s) => [
      s.label,
      s.version,
      s.logBin,
      s.binlogFormat,
      s.syncBinlog,
      s.innodbFlushLogAtTrxCommit,
      `${s.innodbBufferPoolMb} MB`,
    ]),
  );

  if (summary.triggerCost.length > 0) {
    lines.push('1. Trigger cost: single-row autocommit UPDATEs on orders per second');
    table(
      [
        'server',
        'update',
        'conn.',
        'without trigger',
        'with trigger',
        'with/without',
        'cost',
        'cost, each run',
        'empty trigger costs',
        'inert trigger costs',
        'tableless trigger costs',
      ],
      summary.triggerCost.map((t) => [
        t.server,
        t.kind === 'status' ? 'status changes' : 'other columns',
        String(t.connections),
        format(t.withoutTrigger),
        format(t.withTrigger),
        `${format(t.ratio)}×`,
        `${format(t.costPercent)}%`,
        t.costPercentByRun.map((c) => `${format(c)}%`).join(' / '),
        `${format(t.emptyTriggerCostPercent)}%`,
        `${format(t.inertTriggerCostPercent)}%`,
        `${format(t.tablelessTriggerCostPercent)}%`,
      ]),
    );
  }
  if (summary.drain.length > 0) {
    lines.push(
      `2. Drain: backlog of ${options.drainEvents.toLocaleString('en-US')} push-worthy events, pipeline started cold`,
    );
    table(
      [
        'pipeline',
        'events/s',
        'start-up → 1st push',
        'CPU µs/event',
        'MariaDB µs/event',
        'Redis µs/event',
      ],
      summary.drain.map((d) => [
        d.pipeline,
        format(d.eventsPerSecond),
        `${format(d.startupMs)} ms`,
        format(d.cpuUsPerEvent),
        format(d.dbCpuUsPerEvent),
        format(d.redisCpuUsPerEvent),
      ]),
    );
  }
  if (summary.latency.length > 0) {
    lines.push(
      `3. Latency: ${options.latencyRatePerSecond} push-worthy commits/s for ${options.latencyDurationS} s, commit → Singer`,
    );
    table(
      [
        'pipeline',
        'rate',
        'p50',
        'p95',
        'p99',
        'max',
        'in BullMQ p50/p99',
        'outbox lag p50/max',
        'undelivered max',
        'trend/s',
        'grows',
        'lost',
      ],
      summary.latency.map((l) => [
        l.pipeline,
        format(l.achievedRate),
        `${format(l.p50Ms)} ms`,
        `${format(l.p95Ms)} ms`,
        `${format(l.p99Ms)} ms`,
        `${format(l.maxMs)} ms`,
        // Only push stamps handed_off_at; only the outbox pipelines have a lag.
        l.pipeline.startsWith('push')
          ? `${format(l.handOffP50Ms)}/${format(l.handOffP99Ms)} ms`
          : 'n/a',
        l.pipeline !== 'binlog'
          ? `${format(l.outboxLagP50Ms)}/${format(l.outboxLagMaxMs)} ms`
          : 'n/a',
        format(l.undeliveredMax),
        format(l.undeliveredSlopePerS),
        `${l.lagGrowsInRuns}/${l.runs}`,
        String(l.missing),
      ]),
    );
    lines.push(
      "4. Cost: CPU per delivered event, µs (the pipeline's own processes; the servers beside)",
    );
    table(
      [
        'pipeline',
        'product, drain',
        'product, 500/s',
        'MariaDB, 500/s',
        'Redis, 500/s',
        'product idle, % of a core',
      ],
      summary.latency.map((l) => [
        l.pipeline,
        format(summary.drain.find((d) => d.pipeline === l.pipeline)?.cpuUsPerEvent ?? Number.NaN),
        format(l.cpuUsPerEvent),
        format(l.dbCpuUsPerEvent),
        format(l.redisCpuUsPerEvent),
        `${format(l.idleCpuPercent)}%`,
      ]),
    );
  }
  const { ratios } = summary;
  if (ratios.drainPushOverBinlog !== undefined || ratios.p50PushOverBinlog !== undefined) {
    lines.push(
      '5. Against the binlog peer (@vlasky/zongji → same BullMQ worker → same stand-in Singer)',
      `  drain rate push ÷ binlog: ${format(ratios.drainPushOverBinlog ?? Number.NaN)}×    ` +
        `p50 latency push ÷ binlog: ${format(ratios.p50PushOverBinlog ?? Number.NaN)}×`,
      ...(ratios.drainPush2pOverBinlog !== undefined || ratios.p50Push2pOverBinlog !== undefined
        ? [
            `  drain rate push-2p ÷ binlog: ${format(ratios.drainPush2pOverBinlog ?? Number.NaN)}×    ` +
              `p50 latency push-2p ÷ binlog: ${format(ratios.p50Push2pOverBinlog ?? Number.NaN)}×`,
          ]
        : []),
      '',
    );
  }
  if (summary.againstFloor.length > 0) {
    const x = (v: number | undefined) => (v === undefined ? '—' : `${format(v)}×`);
    const us = (v: number | undefined) => (v === undefined ? '—' : format(v));
    lines.push(
      '6. Against the floor (claim → POST → DELETE, bench/floor-child.ts), same run: pipeline ÷ floor',
    );
    const ratioTable = (rows: FloorRatio[], floor: string) =>
      table(
        [
          'pipeline',
          'drain rate',
          `CPU/push, drain (µs; ÷ ${floor})`,
          `CPU/push, 500/s (µs; ÷ ${floor})`,
          'p50, 500/s',
          'p99, 500/s',
        ],
        rows.map((f) => [
          f.pipeline,
          x(f.drainRate),
          `${us(f.drainCpuUsPerPush)}; ${x(f.drainCpu)}`,
          `${us(f.steadyCpuUsPerPush)}; ${x(f.steadyCpu)}`,
          x(f.p50),
          x(f.p99),
        ]),
      );
    ratioTable(summary.againstFloor, 'floor');
    lines.push('  CPU per push: product + MariaDB + Redis.', '');
    if (summary.againstClientFloor.length > 0) {
      lines.push("  Against the floor with push's own Singer client (floor-client), same run:");
      ratioTable(summary.againstClientFloor, 'floor-client');
      lines.push('');
    }
  }
  if (summary.idle.length > 0) {
    lines.push(
      `7. Idle: no traffic for ${options.idleSeconds} s; then first pushes, each after ${options.silenceSeconds} s of silence`,
    );
    table(
      [
        'pipeline',
        'CPU, % of a core',
        'queries/s to MariaDB',
        'MariaDB CPU',
        'Redis CPU',
        'first push p50',
        'p99',
        'max',
        'trials',
      ],
      summary.idle.map((f) => [
        f.pipeline,
        `${format(f.cpuPercent)}%`,
        format(f.queriesPerSecond),
        `${format(f.dbCpuPercent)}%`,
        `${format(f.redisCpuPercent)}%`,
        `${format(f.firstPushP50Ms)} ms`,
        `${format(f.firstPushP99Ms)} ms`,
        `${format(f.firstPushMaxMs)} ms`,
        String(f.trials),
      ]),
    );
  }
  lines.push('Targets (issues 5 and 14)');
  table(
    ['what', 'target', 'measured', 'verdict'],
    summary.targets.map((t) => [
      t.what,
      t.target,
      t.measured,
      t.met === undefined ? '—' : t.met ? 'met' : 'MISSED',
    ]),
  );
  return lines.join('\n');
}

export async function writeReport(report: BenchReport): Promise<string> {
  const dir = join(packageRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
