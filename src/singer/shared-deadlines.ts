/**
 * Deadlines for requests in flight, one per slice of time rather than one per request: every
 * request that starts within the same `sliceMs` shares one AbortController and one timer,
 * which fires `timeoutMs + sliceMs` after the slice began. So each request gets at least
 * `timeoutMs` and at most `sliceMs` more. Measured (docs/BENCHMARKS.md), a controller and a
 * timer of its own per push were about a tenth of the Singer client's CPU per push; at
 * thousands of pushes a second, dozens share a slice.
 *
 * A slice is let go once it is over and its last request has finished; its timer never keeps
 * the process alive on its own. cancelAll() cancels what is still in flight.
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';

export interface Deadline {
  readonly signal: AbortSignal;
  /** The deadline passed (not a cancel by close()). */
  readonly timedOut: boolean;
  /** The request is over: call exactly once, however it ended. */
  release(): void;
}

export interface SharedDeadlines {
  start(): Deadline;
  /** Cancels every request in flight. Idempotent. */
  cancelAll(): void;
}

interface Slice {
  controller: AbortController;
  timer: NodeJS.Timeout;
  endsAt: number;
  inFlight: number;
  timedOut: boolean;
}

export function sharedDeadlines(timeoutMs: number, sliceMs: number): SharedDeadlines {
  const live = new Set<Slice>();
  let current: Slice | undefined;

  function letGo(slice: Slice): void {
    clearTimeout(slice.timer);
    live.delete(slice);
  }

  function newSlice(now: number): Slice {
    const controller = new AbortController();
    // Each request in the slice listens on its signal: no leak, just many at once.
    setMaxListeners(Infinity, controller.signal);
    const slice: Slice = {
      controller,
      endsAt: now + sliceMs,
      inFlight: 0,
      timedOut: false,
      timer: setTimeout(() => {
        slice.timedOut = true;
        letGo(slice);
        controller.abort();
      }, timeoutMs + sliceMs).unref(),
    };
    live.add(slice);
    return slice;
  }

  return {
    start() {
      const now = performance.now();
      if (!current || now >= current.endsAt) {
        if (current && current.inFlight === 0) letGo(current);
        current = newSlice(now);
      }
      const slice = current;
      slice.inFlight += 1;
      let released = false;
      return {
        signal: slice.controller.signal,
        get timedOut() {
          return slice.timedOut;
        },
        release() {
          if (released) return;
          released = true;
          slice.inFlight -= 1;
          if (slice.inFlight === 0 && slice !== current) letGo(slice);
        },
      };
    },
    cancelAll() {
      for (const slice of live) {
        letGo(slice);
        slice.controller.abort();
      }
      current = undefined;
    },
  };
}
