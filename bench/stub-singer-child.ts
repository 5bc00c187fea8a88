/**
 * The stand-in Singer in a process of its own (forked by stub-singer-process.ts), so its
 * CPU is neither the product's nor the load generator's. It answers every push at once
 * and notes, for each, the order id, event id and the receipt time on the shared
 * monotonic clock; the benchmark fetches those over IPC to compute commit→Singer latency.
 */
import { startStubSinger } from '../src/singer/stub-singer.js';
import { monotonicMs } from './clock.js';

export type StubCommand =
  | { id: number; cmd: 'reset' }
  | { id: number; cmd: 'count' }
  | { id: number; cmd: 'wait'; count: number; timeoutMs: number }
  | { id: number; cmd: 'receipts' };

export interface StubCount {
  /** Distinct idempotency keys answered 2xx. */
  delivered: number;
  /** Every request, repeats included. */
  requests: number;
  atMs: number;
}

export interface StubReceipts {
  orderIds: string[];
  atMs: number[];
  /** Requests whose key had already been delivered (at-least-once repeats). */
  repeats: number;
}

const stub = await startStubSinger({ port: 0 });
let orderIds: string[] = [];
let atMs: number[] = [];
let requests = 0;
let repeats = 0;
const seen = new Set<string>();
let waiter: { count: number; reply: () => void } | undefined;

stub.onRequest((push) => {
  requests += 1;
  if (seen.has(push.idempotencyKey)) {
    repeats += 1;
    return;
  }
  seen.add(push.idempotencyKey);
  orderIds.push(push.body.data.orderId);
  atMs.push(monotonicMs());
  if (waiter && seen.size >= waiter.count) {
    const { reply } = waiter;
    waiter = undefined;
    reply();
  }
});

const count = (): StubCount => ({ delivered: seen.size, requests, atMs: monotonicMs() });

process.on('message', (message: StubCommand) => {
  const send = (result: unknown) => process.send?.({ id: message.id, result });
  switch (message.cmd) {
    case 'reset':
      stub.reset();
      orderIds = [];
      atMs = [];
      requests = 0;
      repeats = 0;
      seen.clear();
      return send(null);
    case 'count':
      return send(count());
    case 'wait': {
      if (seen.size >= message.count) return send(count());
      const timer = setTimeout(() => {
        waiter = undefined;
        send(count());
      }, message.timeoutMs);
      waiter = {
        count: message.count,
        reply: () => {
          clearTimeout(timer);
          send(count());
        },
      };
      return;
    }
    case 'receipts':
      return send({ orderIds, atMs, repeats } satisfies StubReceipts);
  }
});
process.on('disconnect', () => void stub.close().then(() => process.exit(0)));
process.send?.({ ready: true, url: stub.url });
