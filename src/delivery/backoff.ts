/**
 * Retry delays for Singer: exponential with full jitter (so a Singer outage does not end
 * in a thundering herd when it comes back), honouring Retry-After when Singer sends one.
 */
import { SingerTransientError } from '../singer/singer-errors.js';

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

/** Delay before retry number `attemptsMade` (1 after the first failure). */
export function retryDelayMs(
  attemptsMade: number,
  err: unknown,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  if (err instanceof SingerTransientError && err.retryAfterMs !== undefined) {
    return Math.min(Math.max(err.retryAfterMs, 0), settings.maxMs);
  }
  const ceiling = Math.min(settings.baseMs * 2 ** Math.max(attemptsMade - 1, 0), settings.maxMs);
  // Half fixed, half random: never retries at once, and spreads the herd.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
