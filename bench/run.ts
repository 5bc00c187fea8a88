/**
 * `npm run bench`: sets up what it needs, measures, prints a table and writes the same
 * figures as JSON to bench/results/<time>.json. See docs/BENCHMARKS.md for the method.
 *
 * It needs: MariaDB server binaries (it starts its own mariadbd with binary logging, like
 * production RDS), the shared MySQL/MariaDB for a second trigger-cost measurement
 * (BENCH_SHARED_DATABASE_URL, default mysql://root@127.0.0.1:3306/; skipped when
 * unreachable), and redis-server (it starts its own; without one on PATH it uses REDIS_URL,
 * default redis://127.0.0.1:6379, with a queue prefix per run removed afterwards).
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { createBenchDatabase } from './bench-database.js';
import { measureDrain, type DrainRun } from './drain.js';
import { measureIdle, type IdleRun } from './idle.js';
import { measureLatency, type LatencyRun } from './latency.js';
import { describeMachine, describeServer, type ServerInfo } from './machine-info.js';
import type { MeasureSetup } from './measure-setup.js';
import { parseOptions, USAGE } from './options.js';
import type { PipelineName } from './pipelines.js';
import { startPrivateMariaDb } from './private-mariadb.js';
import { startPrivateRedis } from './private-redis.js';
import { configurePriority, priorityNote, raisePriority } from './priority.js';
import { benchQueuePrefix, deleteQueueKeys } from './queue-prefix.js';
import { formatReport, writeReport, type BenchReport } from './report.js';
import { startStubSingerProcess } from './stub-singer-process.js';
import { summarize } from './summary.js';
import { measureTriggerCost, type TriggerCostRun } from './trigger-cost.js';

const PRIVATE = 'private (binlog on)';
const SHARED = 'shared (binlog off)';

if (process.argv.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const options = parseOptions(process.argv.slice(2));
const sharedRedisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sharedServerUrl = process.env.BENCH_SHARED_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/';
const startedAt = new Date().toISOString();
const databaseName = `push_bench_${randomBytes(4).toString('hex')}`;
const progress = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const cleanups: Array<() => Promise<unknown>> = [];
const triggerRuns: Array<TriggerCostRun & { server: string }> = [];
const drainRuns: DrainRun[] = [];
const latencyRuns: LatencyRun[] = [];
const idleRuns: IdleRun[] = [];
const servers: ServerInfo[] = [];

try {
  configurePriority(options.priority);
  raisePriority(process.pid);
  progress(
    'starting a private mariadbd with binary logging (ROW, sync_binlog=1, innodb_flush_log_at_trx_commit=1)',
  );
  const mariadb = await startPrivateMariaDb();
  cleanups.push(() => mariadb.stop());
  raisePriority(mariadb.pid);
  const privateRedis = await startPrivateRedis();
  if (privateRedis) {
    cleanups.push(() => privateRedis.stop());
    raisePriority(privateRedis.pid);
  } else progress(`no redis-server on PATH: using the Redis at ${sharedRedisUrl}`);
  const redisUrl = privateRedis?.url ?? sharedRedisUrl;
  const machine = await describeMachine(redisUrl);
  const stub = await startStubSingerProcess();
  cleanups.push(() => stub.stop());
  raisePriority(stub.pid);

  const sharedReachable = await serverInfo(sharedServerUrl, SHARED);
  servers.push((await serverInfo(mariadb.rootUrl, PRIVATE))!);
  if (sharedReachable) servers.push(sharedReachable);
  else
    progress(
      `the shared server at ${sharedServerUrl} does not answer: its trigger cost is skipped`,
    );

  if (options.parts.has('trigger')) {
    const targets = [
      { label: PRIVATE, url: mariadb.rootUrl },
      ...(sharedReachable ? [{ label: SHARED, url: sharedServerUrl }] : []),
    ];
    for (const { label, url } of targets) {
      progress(`trigger cost on ${label}`);
      await measureTriggerCost(
        url,
        databaseName,
        { seconds: options.triggerSeconds, orders: options.triggerOrders, runs: options.runs },
        (run) => {
          triggerRuns.push({ ...run, server: label });
          progress(
            `  ${run.kind} ×${run.connections} trigger ${run.trigger}: ${Math.round(run.updatesPerSecond)}/s`,
          );
        },
      );
    }
  }

  const pipelines: PipelineName[] = [
    'push',
    ...(options.parts.has('split') ? (['push-2p'] as const) : []),
    ...(options.parts.has('peer') ? (['binlog'] as const) : []),
    ...(options.parts.has('floor') ? (['floor'] as const) : []),
    ...(options.parts.has('floor-client') ? (['floor-client'] as const) : []),
  ];
  const measured = ['drain', 'latency', 'idle'] as const;
  if (measured.some((part) => options.parts.has(part))) {
    const db = await createBenchDatabase(mariadb.rootUrl, databaseName);
    cleanups.push(() => db.drop());
    const setup: MeasureSetup = {
      knex: db.knex,
      databaseUrl: db.url,
      stub,
      serverPids: { mariadb: mariadb.pid, redis: privateRedis?.pid },
      privateRedisUrl: privateRedis?.url,
      context: (pipeline, binlogStart) => ({
        // The product (and the floor) log in as the least-privilege account, as in production.
        databaseUrl: db.appUrl,
        database: db.name,
        redisUrl,
        singerUrl: stub.url,
        queuePrefix: benchQueuePrefix(pipeline),
        productEnv: options.productEnv,
        binlog: {
          host: '127.0.0.1',
          port: mariadb.port,
          ...mariadb.replication,
          start: binlogStart,
        },
      }),
      cleanUp: (ctx) => deleteQueueKeys(redisUrl, ctx.queuePrefix),
    };
    // Alternate which pipeline goes first, so drift on a shared machine favours neither.
    const orderOf = (run: number) => (run % 2 === 0 ? pipelines : [...pipelines].reverse());
    if (options.parts.has('drain')) {
      for (let run = 0; run < options.runs; run++) {
        for (const pipeline of orderOf(run)) {
          const result = await measureDrain(pipeline, options.drainEvents, setup);
          drainRuns.push(result);
          progress(
            `drain ${pipeline} run ${run + 1}: ${Math.round(result.eventsPerSecond)} events/s, ` +
              `${Math.round(result.cpuUsPerEvent)} µs CPU/event, start-up ${Math.round(result.startupMs)} ms, ` +
              `peak RSS ${result.peakRssMiBByProcess.map(Math.round).join(' + ')} MiB`,
          );
        }
      }
    }
    if (options.parts.has('latency')) {
      for (let run = 0; run < options.runs; run++) {
        for (const pipeline of orderOf(run)) {
          const result = await measureLatency(
            pipeline,
            { ratePerSecond: options.latencyRatePerSecond, durationS: options.latencyDurationS },
            setup,
          );
          latencyRuns.push(result);
          progress(
            `latency ${pipeline} run ${run + 1}: p50 ${result.p50Ms.toFixed(1)} p99 ${result.p99Ms.toFixed(1)} ` +
              `(in BullMQ p50 ${result.handOffP50Ms.toFixed(0)} p99 ${result.handOffP99Ms.toFixed(0)}) ` +
              `max ${result.maxMs.toFixed(1)} ms at ${Math.round(result.achievedRate)}/s, ` +
              `${Math.round(result.cpuUsPerEvent)} µs CPU/event ` +
              `(${result.cpuUsPerEventByProcess.map(Math.round).join(' + ')}), lost ${result.missing}, ` +
              `peak RSS ${result.peakRssMiBByProcess.map(Math.round).join(' + ')} MiB`,
          );
        }
      }
    }
    if (options.parts.has('idle')) {
      // The quiet pipelines: push as deployed, and the floor's first pushes beside it.
      const idlePipelines: PipelineName[] = ['push', 'floor'];
      for (let run = 0; run < options.runs; run++) {
        for (const pipeline of orderOf(run).filter((p) => idlePipelines.includes(p))) {
          const result = await measureIdle(
            pipeline,
            {
              idleSeconds: options.idleSeconds,
              silenceSeconds: options.silenceSeconds,
              trials: options.silenceTrials,
            },
            setup,
          );
          idleRuns.push(result);
          progress(
            `idle ${pipeline} run ${run + 1}: ${result.cpuPercent.toFixed(2)} % of a core ` +
              `(by 10 s: ${result.cpuPercentBySlice.map((p) => p.toFixed(2)).join(' ')}), ` +
              `${result.queriesPerSecond.toFixed(1)} queries/s, MariaDB ${result.dbCpuPercent.toFixed(2)} %, ` +
              `Redis ${result.redisCpuPercent.toFixed(2)} %; first push after ${options.silenceSeconds} s: ` +
              `p50 ${result.firstPushP50Ms.toFixed(1)} p99 ${result.firstPushP99Ms.toFixed(1)} ` +
              `max ${result.firstPushMaxMs.toFixed(1)} ms`,
          );
        }
      }
    }
  }

  const summary = summarize(triggerRuns, drainRuns, latencyRuns, idleRuns, PRIVATE);
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    options: { ...options, parts: [...options.parts] },
    machine,
    setup: {
      redis: privateRedis
        ? `the benchmark's own redis-server (appendfsync everysec)`
        : `shared, ${sharedRedisUrl}`,
      priority: priorityNote(),
    },
    servers,
    summary,
    runs: { triggerCost: triggerRuns, drain: drainRuns, latency: latencyRuns, idle: idleRuns },
  };
  process.stdout.write(`\n${formatReport(report)}\n`);
  const file = await writeReport(report);
  process.stdout.write(`\nfigures written to ${file}\n`);
} catch (err) {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
} finally {
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((err: unknown) => progress(`clean-up failed: ${(err as Error).message}`));
  }
}

async function serverInfo(url: string, label: string): Promise<ServerInfo | undefined> {
  let connection;
  try {
    connection = await createConnection({ uri: url, connectTimeout: 3_000 });
  } catch {
    return undefined;
  }
  try {
    return await describeServer(connection, label);
  } finally {
    await connection.end();
  }
}
