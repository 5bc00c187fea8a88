/**
 * The order service at a steady rate: one single-row autocommit UPDATE every 1/rate s,
 * each on a different order (so a push at Singer names its commit), over a pool of
 * connections so a slow commit does not hold up the schedule. The commit time of each is
 * taken the moment its UPDATE's OK arrives (autocommit: the commit is done).
 */
import { createPool } from 'mysql2/promise';
import { PUSH_WORTHY_CHANGE } from './bench-database.js';
import { monotonicMs, sleep } from './clock.js';

export interface SteadyLoadResult {
  /** Commit time per order id (monotonic ms). */
  commits: Map<string, number>;
  startedAt: number;
  endedAt: number;
  /** Commits per second achieved over the whole run. */
  achievedRate: number;
  /** Worst lateness of a statement against its schedule (a sign the load fell behind). */
  maxScheduleSlipMs: number;
}

export async function runSteadyLoad(
  databaseUrl: string,
  settings: {
    firstId: number;
    count: number;
    ratePerSecond: number;
    connections?: number;
    /** Told the number of commits so far after each one. */
    onCommit?: (committedSoFar: number) => void;
  },
): Promise<SteadyLoadResult> {
  const pool = createPool({ uri: databaseUrl, connectionLimit: settings.connections ?? 16 });
  const sql = `UPDATE orders SET ${PUSH_WORTHY_CHANGE} WHERE id = ?`;
  // Open the connections before the clock starts.
  await Promise.all(
    Array.from({ length: settings.connections ?? 16 }, () => pool.query('SELECT 1')),
  );
  const intervalMs = 1000 / settings.ratePerSecond;
  const commits = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  let maxScheduleSlipMs = 0;
  const startedAt = monotonicMs();
  try {
    for (let issued = 0; issued < settings.count;) {
      const now = monotonicMs();
      const due = Math.min(Math.floor((now - startedAt) / intervalMs) + 1, settings.count);
      for (; issued < due; issued++) {
        maxScheduleSlipMs = Math.max(maxScheduleSlipMs, now - (startedAt + issued * intervalMs));
        const id = settings.firstId + issued;
        const update: Promise<void> = pool.query(sql, [id]).then(() => {
          commits.set(String(id), monotonicMs());
          settings.onCommit?.(commits.size);
          inFlight.delete(update);
        });
        inFlight.add(update);
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
  } finally {
    await pool.end();
  }
  const endedAt = monotonicMs();
  return {
    commits,
    startedAt,
    endedAt,
    achievedRate: settings.count / ((endedAt - startedAt) / 1000),
    maxScheduleSlipMs,
  };
}
