import { describe, expect, it } from 'vitest';
import { lanes } from '../../src/delivery/lanes.js';

/** A task that runs until `finish()` is called, recording when it started. */
function pending(started: number[], id: number) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      started.push(id);
      await done;
      return id;
    },
    finish: () => finish(),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('lanes', () => {
  it('runs at most `count` tasks at once, the others in the order they came', async () => {
    const lane = lanes(2);
    const started: number[] = [];
    const tasks = Array.from({ length: 7 }, (_, i) => pending(started, i));
    const results = tasks.map((t) => lane.run(t.task));
    await tick();
    expect(started).toEqual([0, 1]);

    for (const [i, t] of tasks.entries()) {
      t.finish();
      await tick();
      expect(started.length).toBe(Math.min(i + 3, 7));
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('frees its lane when a task fails', async () => {
    const lane = lanes(1);
    await expect(lane.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lane.run(async () => 'next')).toBe('next');
  });

  it('keeps serving in order while tasks keep arriving behind a growing queue', async () => {
    const lane = lanes(1);
    const order: number[] = [];
    let next = 0;
    const running: Array<Promise<void>> = [];
    // Each task, as it runs, queues two more: the queue grows and is let through in order.
    const add = () => {
      const id = next++;
      running.push(
        lane.run(async () => {
          order.push(id);
          if (id < 500) {
            add();
            add();
          }
          await tick();
        }),
      );
    };
    add();
    while (running.length < 1001 || order.length < running.length) await tick();
    await Promise.all(running);

    expect(order).toEqual(Array.from({ length: running.length }, (_, i) => i));
  });
});
