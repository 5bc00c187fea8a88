import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sharedDeadlines } from '../../src/singer/shared-deadlines.js';
import { sleep } from '../../src/sleep.js';

describe('shared deadlines', () => {
  it('gives requests started together one deadline, and later ones another', async () => {
    const deadlines = sharedDeadlines(1_000, 30);
    const first = deadlines.start();
    const second = deadlines.start();
    await sleep(50);
    const third = deadlines.start();

    expect(second.signal).toBe(first.signal);
    expect(third.signal).not.toBe(first.signal);
    deadlines.cancelAll();
  });

  it('ends a request no earlier than the timeout and at most a slice later', async () => {
    const deadlines = sharedDeadlines(150, 20);
    const startedAt = performance.now();
    const deadline = deadlines.start();
    await once(deadline.signal, 'abort');
    const tookMs = performance.now() - startedAt;

    expect(deadline.timedOut).toBe(true);
    expect(tookMs).toBeGreaterThanOrEqual(150);
    expect(tookMs).toBeLessThan(150 + 20 + 100); // the slice, and a busy machine's timer slack
  });

  it('starts a fresh deadline after one has passed', async () => {
    const deadlines = sharedDeadlines(40, 10);
    const early = deadlines.start();
    await once(early.signal, 'abort');
    early.release();
    const later = deadlines.start();

    expect(later.signal.aborted).toBe(false);
    expect(later.timedOut).toBe(false);
    deadlines.cancelAll();
  });

  it('lets a finished slice go: its requests are not cancelled with the ones in flight', async () => {
    const deadlines = sharedDeadlines(1_000, 10);
    const finished = deadlines.start();
    finished.release();
    await sleep(30);
    const inFlight = deadlines.start(); // a new slice: the finished one is let go
    deadlines.cancelAll();

    expect(inFlight.signal.aborted).toBe(true);
    expect(inFlight.timedOut).toBe(false);
    expect(finished.signal.aborted).toBe(false);
  });

  it('keeps an over slice while a request of it runs, and lets it go once the last ends', async () => {
    const deadlines = sharedDeadlines(1_000, 10);
    const stillRunning = deadlines.start();
    await sleep(30);
    const endsLate = deadlines.start();
    await sleep(30);
    const current = deadlines.start();
    endsLate.release();
    deadlines.cancelAll();

    expect(stillRunning.signal.aborted).toBe(true);
    expect(stillRunning.timedOut).toBe(false);
    expect(endsLate.signal.aborted).toBe(false);
    expect(current.signal.aborted).toBe(true);
  });
});
