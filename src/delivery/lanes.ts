/**
 * A process's deliveries in flight, bounded (WORKER_CONCURRENCY): hand-off jobs send many
 * pushes each, push jobs one, and all of them share these lanes, so that Singer sees at most
 * that many requests from one worker process, whatever mix of jobs it runs.
 */
export interface Lanes {
  run<T>(task: () => Promise<T>): Promise<T>;
}

export function lanes(count: number): Lanes {
  let free = count;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free += 1;
  };
  return {
    async run(task) {
      if (free > 0) free -= 1;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
