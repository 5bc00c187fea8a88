/**
 * Redis commands per delivered event, from INFO commandstats before and after a run: the
 * profile of the product's Redis round trips (which commands, how many, how much of
 * Redis's time). Only meaningful on the benchmark's own Redis, where nobody else talks.
 */
import { Redis } from 'ioredis';

export type CommandStats = Record<string, { calls: number; usec: number }>;

export async function readCommandStats(redisUrl: string): Promise<CommandStats> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const info = await redis.info('commandstats');
    const stats: CommandStats = {};
    for (const line of info.split('\n')) {
      const match = /^cmdstat_(\S+):calls=(\d+),usec=(\d+)/.exec(line.trim());
      if (match) stats[match[1]!] = { calls: Number(match[2]), usec: Number(match[3]) };
    }
    return stats;
  } finally {
    redis.disconnect();
  }
}

/** Calls and Redis µs per event for each command, busiest first. */
export function perEvent(
  before: CommandStats,
  after: CommandStats,
  events: number,
): Array<{ command: string; callsPerEvent: number; usecPerEvent: number }> {
  return Object.entries(after)
    .map(([command, { calls, usec }]) => ({
      command,
      callsPerEvent: (calls - (before[command]?.calls ?? 0)) / events,
      usecPerEvent: (usec - (before[command]?.usec ?? 0)) / events,
    }))
    .filter((row) => row.callsPerEvent > 0)
    .sort((a, b) => b.usecPerEvent - a.usecPerEvent);
}
