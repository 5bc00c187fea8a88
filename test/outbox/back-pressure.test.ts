// The back-pressure decision and its episode (src/outbox/back-pressure.ts) on a scripted queue
// count: the real pipeline is test/faults/back-pressure.test.ts; this pins down the edges.
import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createBackPressure } from '../../src/outbox/back-pressure.js';

function scripted(counts: number[]) {
  const lines: Array<{ level: string; msg: string; queued: number }> = [];
  const changes: boolean[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
        done();
      },
    }),
  );
  const pressure = createBackPressure({
    countQueued: async () => {
      const next = counts.shift();
      if (next === undefined) throw new Error('no more counts scripted');
      return next;
    },
    maxQueuedPushes: 1_000,
    settleMs: 200,
    logger,
    onChange: (active) => changes.push(active),
  });
  return { pressure, lines, changes };
}

it('admits below the limit, holds back at it, and logs the episode once each way', async () => {
  const { pressure, lines, changes } = scripted([999, 1_000, 1_400, 1_200, 900, 1_000, 10, 20]);
  expect(await pressure.admits()).toBe(true);
  expect(pressure.active).toBe(false);
  expect(pressure.describe()).toBe('not holding back (fewer than 1000 pushes queued)');

  expect(await pressure.admits()).toBe(false);
  expect(pressure.active).toBe(true);
  expect(await pressure.admits()).toBe(false);
  expect(await pressure.admits()).toBe(false);
  expect(pressure.describe()).toMatch(
    /^holding back since \d{4}-.*Z: 1200 pushes queued, limit 1000 \(MAX_QUEUED_PUSHES\); new events wait in MySQL$/,
  );
  // A poller paced by its workers swings below the limit and back: one episode, said once.
  expect(await pressure.admits()).toBe(true);
  expect(await pressure.admits()).toBe(false);
  expect(await pressure.admits()).toBe(true);
  expect(pressure.active).toBe(true);
  // Below the limit for the settle time: over.
  await new Promise((resolve) => setTimeout(resolve, 250));
  expect(await pressure.admits()).toBe(true);
  expect(pressure.active).toBe(false);

  expect(changes).toEqual([true, false]);
  expect(lines.map(({ level, msg, queued }) => ({ level, msg, queued }))).toEqual([
    {
      level: 'warn',
      msg: expect.stringMatching(/^poller holds back: the delivery queue is full/),
      queued: 1_000,
    },
    {
      level: 'info',
      msg: 'poller resumes handing off: the queue stayed below the limit for 200 ms',
      queued: 20,
    },
  ]);
});

it('ends the episode when the outbox has caught up, whatever the queue holds', async () => {
  const { pressure, lines, changes } = scripted([5_000]);
  expect(await pressure.admits()).toBe(false);
  pressure.caughtUp();
  pressure.caughtUp();
  expect(pressure.active).toBe(false);
  expect(changes).toEqual([true, false]);
  expect(lines.at(-1)?.msg).toBe('poller resumes handing off: the outbox is drained');
});

it('lets a failed count fail the cycle (Redis down): no verdict either way', async () => {
  const { pressure, changes } = scripted([]);
  await expect(pressure.admits()).rejects.toThrow('no more counts scripted');
  expect(pressure.active).toBe(false);
  expect(changes).toEqual([]);
});
