import { describe, expect, it } from 'vitest';
import { SILENCE_JITTER_MS, trialSilenceMs } from '../../bench/idle.js';

describe('a first-push trial’s silence', () => {
  it('lasts the silence asked for, and up to a second more, at random', () => {
    expect(trialSilenceMs(10_000, () => 0)).toBe(10_000);
    expect(trialSilenceMs(10_000, () => 0.999_999)).toBe(10_000 + SILENCE_JITTER_MS - 1);
    const silences = Array.from({ length: 200 }, () => trialSilenceMs(10_000));
    // Spread over several of the poller's idle sleeps (110 ms), not one point of its schedule.
    expect(Math.max(...silences) - Math.min(...silences)).toBeGreaterThan(5 * 110);
    for (const ms of silences) {
      expect(ms).toBeGreaterThanOrEqual(10_000);
      expect(ms).toBeLessThan(10_000 + SILENCE_JITTER_MS);
    }
  });
});
