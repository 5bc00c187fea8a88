/** What the figures were measured on, printed beside them: cores, versions, durability. */
import { cpus, loadavg, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import type { Connection } from 'mysql2/promise';

export interface ServerInfo {
  label: string;
  version: string;
  logBin: string;
  binlogFormat: string;
  syncBinlog: string;
  innodbFlushLogAtTrxCommit: string;
  innodbBufferPoolMb: number;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  redisVersion: string;
  loadAverageAtStart: number[];
}

export async function describeServer(connection: Connection, label: string): Promise<ServerInfo> {
  const [rows] = (await connection.query(
    `SELECT @@version AS version, @@log_bin AS log_bin, @@binlog_format AS binlog_format,
            @@sync_binlog AS sync_binlog,
            @@innodb_flush_log_at_trx_commit AS flush,
            @@innodb_buffer_pool_size AS pool`,
  )) as unknown as [Array<Record<string, string | number>>];
  const row = rows[0]!;
  return {
    label,
    version: String(row.version),
    logBin: Number(row.log_bin) === 1 ? 'ON' : 'OFF',
    binlogFormat: String(row.binlog_format),
    syncBinlog: String(row.sync_binlog),
    innodbFlushLogAtTrxCommit: String(row.flush),
    innodbBufferPoolMb: Math.round(Number(row.pool) / 2 ** 20),
  };
}

export async function describeMachine(redisUrl: string): Promise<MachineInfo> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let redisVersion = 'unknown';
  try {
    await redis.connect();
    const info = await redis.info('server');
    redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redisVersion,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
