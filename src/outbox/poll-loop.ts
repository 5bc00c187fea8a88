/**
 * The poller: claims and hands off batches for as long as it runs. A full batch means
 * more is waiting, so it claims again at once; an empty or partial one means it has
 * caught up, so it sleeps. The sleep adapts: `pollIntervalMs` (short: while events flow,
 * commit-to-push latency is mostly this sleep), doubling with every empty look up to
 * `idlePollIntervalMs` once things go quiet, and back to `pollIntervalMs` at the first event.
 * A quiet poller thus asks MySQL about nine times a second instead of two hundred (most hours
 * of a nursing platform are quiet, and the database is the order service's), and the first
 * change after a silence waits at most `idlePollIntervalMs`. After a sleep it first asks,
 * with one cheap read, whether anything waits at all, and opens a claim transaction only if
 * so. When MySQL or Redis fails, it logs, backs off up to `errorBackoffMaxMs`, and tries
 * again — it never exits on its own, and it resumes by itself when they return.
 * While the delivery queue is full (back-pressure.ts) it claims nothing, and counts again
 * every HOLD_BACK_RECHECK_MS.
 */
import type { Logger } from 'pino';
import { openClaimConnection } from './claim-connection.js';
import type { BackPressure } from './back-pressure.js';
import { handOffBatch, HELD_BACK, type HandOffDeps, type HandOffResult } from './hand-off-batch.js';
import { hasUnclaimedEvents } from './has-unclaimed.js';

/**
 * How often a held-back poller counts the queue again: ten Redis calls a second, and the
 * workers drain at most a few hundred pushes meanwhile (1–3k/s), far fewer than the limit.
 */
const HOLD_BACK_RECHECK_MS = 100;

export interface PollLoopSettings {
  batchSize: number;
  pollIntervalMs: number;
  /** The longest sleep once nothing has arrived for a while (POLL_IDLE_INTERVAL_MS). */
  idlePollIntervalMs: number;
  errorBackoffMaxMs: number;
  /** How long MySQL keeps the claim of a poller that went silent (CLAIM_TIMEOUT_S). */
  claimTimeoutS: number;
  /** The longest wait for MySQL's answer to one query of a cycle (DB_QUERY_TIMEOUT_MS). */
  queryTimeoutMs: number;
}

export interface PollLoop {
  /** True while the last cycle succeeded: what /readyz reports for the poller. */
  readonly healthy: boolean;
  readonly lastError: string | undefined;
  /** Stops claiming; resolves once the cycle in progress has committed or rolled back. */
  stop(): Promise<void>;
}

export function startPollLoop(
  options: Omit<HandOffDeps, 'claims'> & {
    /** The poller opens its own connection to this DATABASE_URL (claim-connection.ts). */
    databaseUrl: string;
    logger: Logger;
    onCycle?: (result: HandOffResult) => void;
    /** A cycle failed (it was logged; the rows stay for the next try). */
    onCycleError?: (err: unknown) => void;
    backPressure?: BackPressure;
  },
  settings: PollLoopSettings,
): PollLoop {
  const claims = openClaimConnection(options.databaseUrl, {
    idleTimeoutS: settings.claimTimeoutS,
    queryTimeoutMs: settings.queryTimeoutMs,
    logger: options.logger,
  });
  const deps = { ...options, claims };
  let state: 'running' | 'stopping' = 'running';
  let healthy = false;
  let lastError: string | undefined;
  let consecutiveErrors = 0;
  const stopping = new AbortController();

  let idle = false;
  let quietSleepMs = settings.pollIntervalMs;
  const loop = (async () => {
    while (state === 'running') {
      let result: HandOffResult | undefined;
      try {
        // Held back, it counts alone, before claiming; otherwise the count rides with the claim.
        const pressure = deps.backPressure;
        const countFirst = pressure?.active ? pressure : undefined;
        if (countFirst && !(await countFirst.admits())) result = HELD_BACK;
        else if (idle && !(await hasUnclaimedEvents(claims)))
          result = { claimed: 0, handedOff: 0, pushes: 0 };
        else
          result = await handOffBatch(
            deps,
            settings.batchSize,
            pressure && !countFirst ? () => pressure.admits() : undefined,
          );
        if (!result.heldBack && result.claimed < settings.batchSize) pressure?.caughtUp();
        if (!healthy && lastError) deps.logger.info('poller recovered');
        healthy = true;
        lastError = undefined;
        consecutiveErrors = 0;
        deps.onCycle?.(result);
      } catch (err) {
        healthy = false;
        consecutiveErrors += 1;
        lastError = (err as Error).message;
        deps.logger.error(
          { err, consecutiveErrors },
          'poller could not claim and hand off a batch; the rows stay for the next try',
        );
        deps.onCycleError?.(err);
      }
      if (state !== 'running') break;
      // Held back is not quiet: events wait, and the next cycle claims them without asking.
      idle = result !== undefined && result.claimed === 0 && !result.heldBack;
      if (result && result.claimed >= settings.batchSize) continue;
      // Found something: stay quick for what follows. Found nothing: look a little later.
      quietSleepMs = idle
        ? Math.min(quietSleepMs * 2, settings.idlePollIntervalMs)
        : settings.pollIntervalMs;
      const waitMs = !result
        ? Math.min(settings.pollIntervalMs * 2 ** consecutiveErrors, settings.errorBackoffMaxMs)
        : result.heldBack
          ? Math.max(settings.pollIntervalMs, HOLD_BACK_RECHECK_MS)
          : quietSleepMs;
      await sleep(waitMs, stopping.signal);
    }
  })();

  return {
    get healthy() {
      return healthy && state === 'running';
    },
    get lastError() {
      return lastError;
    },
    async stop() {
      state = 'stopping';
      stopping.abort();
      await loop;
      await claims.close();
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
