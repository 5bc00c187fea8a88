/**
 * The benchmark's ratios to the floors (bench/cost-summary.ts): every pipeline against the
 * floor, and push against the floor that POSTs through push's own client (floor-client).
 */
import { expect, test } from 'vitest';
import { againstFloor } from '../../bench/cost-summary.js';
import type { PipelineName } from '../../bench/pipelines.js';
import type { DrainFigure, LatencyFigure } from '../../bench/summary.js';

function drain(pipeline: PipelineName, eventsPerSecond: number, cpu: number): DrainFigure {
  // CPU split as the benchmark reports it: the product's, MariaDB's and Redis's.
  return {
    pipeline,
    eventsPerSecond,
    startupMs: 100,
    cpuUsPerEvent: cpu - 30,
    dbCpuUsPerEvent: 20,
    redisCpuUsPerEvent: 10,
    runs: 1,
  };
}

function latency(pipeline: PipelineName, p50Ms: number, p99Ms: number, cpu: number) {
  return {
    pipeline,
    p50Ms,
    p99Ms,
    cpuUsPerEvent: cpu,
    dbCpuUsPerEvent: Number.NaN, // not measured: counts as 0
    redisCpuUsPerEvent: 0,
  } as LatencyFigure;
}

const drains = [
  drain('push', 2_000, 600),
  drain('floor', 10_000, 100),
  drain('floor-client', 4_000, 300),
];
const latencies = [
  latency('push', 10, 30, 2_000),
  latency('floor', 5, 10, 800),
  latency('floor-client', 6, 20, 1_000),
];

test('every other pipeline is set against the floor, the floor-client among them', () => {
  const rows = againstFloor(drains, latencies);
  expect(rows.map((r) => r.pipeline)).toEqual(['push', 'floor-client']);
  const [push, client] = rows;
  expect(push).toMatchObject({ drainRate: 0.2, drainCpuUsPerPush: 600, drainCpu: 6 });
  expect(push).toMatchObject({ steadyCpuUsPerPush: 2_000, steadyCpu: 2.5, p50: 2, p99: 3 });
  expect(client).toMatchObject({ drainRate: 0.4, drainCpu: 3, steadyCpu: 1.25, p99: 2 });
});

test('against the floor-client only push is set, by the same ratios', () => {
  const rows = againstFloor(drains, latencies, 'floor-client');
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({
    pipeline: 'push',
    drainRate: 0.5,
    drainCpu: 2,
    steadyCpu: 2,
    p50: 10 / 6,
    p99: 1.5,
  });
});

test('without its floor in the run there is nothing to set against', () => {
  const withoutClientFloor = drains.filter((d) => d.pipeline !== 'floor-client');
  const latenciesWithout = latencies.filter((l) => l.pipeline !== 'floor-client');
  expect(againstFloor(withoutClientFloor, latenciesWithout, 'floor-client')).toEqual([]);
});
