/**
 * Liveness: are this process's loops turning? Answered from memory, with no I/O, so that a
 * MySQL or Redis outage never fails it: restarting every process because a dependency is
 * down only adds a crash loop to the outage (readiness says the dependency is down). What
 * a restart does cure is a loop stuck for good on a wait without a deadline — a Redis
 * command on a connection whose packets vanish (a partition, a dead host) is never answered,
 * and nothing but a new process opens a new connection.
 *
 * - A loop that cycles (the poller) beats a heartbeat after every cycle, failed or not;
 *   it is stale when no cycle has ended for longer than a cycle may legitimately last.
 * - Work that runs in slots (the worker's deliveries) is stale when one piece has run for
 *   longer than any piece may — not counting time spent waiting for Redis, or for MySQL to
 *   take a push's outcome, to come back.
 */

/** One loop's verdict for /healthz and /readyz. */
export interface LoopCheck {
  name: string;
  /** Undefined while the loop turns; otherwise why it does not. From memory only. */
  stale(): string | undefined;
  /** Readiness beyond liveness: undefined when it is doing its job, else why not. */
  unready?(): string | undefined;
}

export interface Heartbeat {
  beat(): void;
  stale(): string | undefined;
}

/** Stale once `staleAfterMs` pass without a beat; counts from its creation. */
export function heartbeat(staleAfterMs: number, now: () => number = Date.now): Heartbeat {
  let last = now();
  return {
    beat() {
      last = now();
    },
    stale() {
      const quietMs = now() - last;
      return quietMs > staleAfterMs
        ? `no cycle has ended for ${seconds(quietMs)} (stale after ${seconds(staleAfterMs)})`
        : undefined;
    },
  };
}

export interface InFlightWatch {
  /** Runs `work`, counting it in flight until it settles. */
  track<T>(work: () => Promise<T>): Promise<T>;
  /** A dependency the work waits on went away: time from now on does not count… */
  dependencyLost(name?: string): void;
  /** …until every lost one is back, when every piece's clock starts again. */
  dependencyBack(name?: string): void;
  stale(): string | undefined;
}

export function inFlightWatch(staleAfterMs: number, now: () => number = Date.now): InFlightWatch {
  // In start order (a Set keeps insertion order): the first entry is the oldest.
  const startedAt = new Set<{ at: number }>();
  const lost = new Set<string>();
  let backAt = 0;
  return {
    async track(work) {
      const entry = { at: now() };
      startedAt.add(entry);
      try {
        return await work();
      } finally {
        startedAt.delete(entry);
      }
    },
    dependencyLost(name = 'redis') {
      lost.add(name);
    },
    dependencyBack(name = 'redis') {
      if (lost.delete(name)) backAt = now();
    },
    stale() {
      const oldest = startedAt.values().next().value;
      if (lost.size > 0 || oldest === undefined) return undefined;
      const runningMs = now() - Math.max(oldest.at, backAt);
      return runningMs > staleAfterMs
        ? `a delivery has run for ${seconds(runningMs)} (stale after ${seconds(staleAfterMs)})`
        : undefined;
    },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
