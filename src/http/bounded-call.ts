/**
 * How probes and scrapes ask MySQL and Redis: with an answer guaranteed in `timeoutMs`, and
 * never more than one question outstanding. Against a dead MySQL, knex keeps trying to
 * connect for its acquireConnectionTimeout (10 s), far past the kubelet's 1 s probe timeout
 * and Prometheus' scrape; so the caller gets "no answer within …" in time, and a call made
 * while the previous one is still pending joins it instead of queueing one more.
 */
export function boundedCall<T>(call: () => Promise<T>, timeoutMs: number): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      const started = call();
      pending = started;
      const forget = () => {
        if (pending === started) pending = undefined;
      };
      started.then(forget, forget);
    }
    return withTimeout(pending, timeoutMs);
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
