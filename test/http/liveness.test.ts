// The liveness verdicts on a clock the test moves: when a loop counts as stuck, and that
// waiting for Redis to come back never does. (A real poller stuck on a dead connection,
// seen through /healthz, is in test/faults/readiness-during-outage.test.ts.)
import { describe, expect, it } from 'vitest';
import { heartbeat, inFlightWatch } from '../../src/http/liveness.js';

function fakeClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('a loop heartbeat', () => {
  it('is fresh from its creation until staleAfterMs pass without a beat, and fresh again after one', () => {
    const clock = fakeClock();
    const beat = heartbeat(5_000, clock.now);
    clock.advance(5_000);
    expect(beat.stale()).toBeUndefined();
    clock.advance(1);
    expect(beat.stale()).toBe('no cycle has ended for 5.0 s (stale after 5.0 s)');
    beat.beat();
    expect(beat.stale()).toBeUndefined();
  });
});

describe('the in-flight watch of deliveries', () => {
  it('is fresh while nothing runs, however long, and stale when one delivery runs too long', async () => {
    const clock = fakeClock();
    const watch = inFlightWatch(10_000, clock.now);
    clock.advance(60_000);
    expect(watch.stale()).toBeUndefined();

    let finishSlow!: () => void;
    const slow = watch.track(() => new Promise<void>((resolve) => (finishSlow = resolve)));
    clock.advance(5_000);
    const quick = watch.track(async () => 'done');
    expect(await quick).toBe('done');
    clock.advance(5_000);
    expect(watch.stale()).toBeUndefined();
    clock.advance(1);
    expect(watch.stale()).toBe('a delivery has run for 10.0 s (stale after 10.0 s)');

    finishSlow();
    await slow;
    expect(watch.stale()).toBeUndefined();
  });

  it('judges by the oldest delivery still running, and forgets one that failed', async () => {
    const clock = fakeClock();
    const watch = inFlightWatch(10_000, clock.now);
    await expect(
      watch.track(async () => {
        throw new Error('Singer said no');
      }),
    ).rejects.toThrow('Singer said no');
    const pending: Array<() => void> = [];
    const started = () => watch.track(() => new Promise<void>((resolve) => pending.push(resolve)));
    const first = started();
    clock.advance(6_000);
    const second = started();
    clock.advance(6_000);
    expect(watch.stale()).toMatch(/run for 12\.0 s/);
    pending[0]?.();
    await first;
    expect(watch.stale()).toBeUndefined();
    clock.advance(4_001);
    expect(watch.stale()).toMatch(/run for 10\.0 s/);
    pending[1]?.();
    await second;
  });

  it('does not count time spent waiting for Redis: stale neither while it is gone nor just after it returns', async () => {
    const clock = fakeClock();
    const watch = inFlightWatch(10_000, clock.now);
    let finish!: () => void;
    const delivery = watch.track(() => new Promise<void>((resolve) => (finish = resolve)));
    clock.advance(2_000);
    watch.dependencyLost();
    clock.advance(10 * 60_000);
    expect(watch.stale()).toBeUndefined();
    watch.dependencyBack();
    clock.advance(10_000);
    expect(watch.stale()).toBeUndefined();
    clock.advance(1);
    expect(watch.stale()).toMatch(/run for 10\.0 s/);
    finish();
    await delivery;
  });

  it('does not count time spent waiting for MySQL to take an outcome either, until both are back', async () => {
    const clock = fakeClock();
    const watch = inFlightWatch(10_000, clock.now);
    let finish!: () => void;
    const delivery = watch.track(() => new Promise<void>((resolve) => (finish = resolve)));
    watch.dependencyLost('mysql');
    watch.dependencyLost('redis');
    clock.advance(60_000);
    watch.dependencyBack('redis');
    clock.advance(60_000);
    expect(watch.stale()).toBeUndefined(); // MySQL still away
    watch.dependencyBack('mysql');
    clock.advance(10_001);
    expect(watch.stale()).toMatch(/run for 10\.0 s/);
    finish();
    await delivery;
  });
});
