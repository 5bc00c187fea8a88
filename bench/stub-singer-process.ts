/** The parent's handle on the stand-in Singer process (stub-singer-child.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StubCommand, StubCount, StubReceipts } from './stub-singer-child.js';

export interface StubSingerProcess {
  url: string;
  pid: number;
  reset(): Promise<void>;
  count(): Promise<StubCount>;
  /** Resolves once `count` distinct pushes arrived, or after `timeoutMs` with what came. */
  waitFor(count: number, timeoutMs: number): Promise<StubCount>;
  receipts(): Promise<StubReceipts>;
  stop(): Promise<void>;
}

type Request = StubCommand extends infer C
  ? C extends { id: number }
    ? Omit<C, 'id'>
    : never
  : never;

export async function startStubSingerProcess(): Promise<StubSingerProcess> {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('./stub-singer-child.js', import.meta.url)),
    [],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    },
  );
  process.once('exit', () => child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`stand-in Singer exited (${code}) before it listened`)),
    );
    child.once('message', (message: { ready?: boolean; url?: string }) => {
      if (message.ready && message.url) resolve(message.url);
    });
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  child.on('message', (message: { id?: number; result?: unknown }) => {
    if (message.id === undefined) return;
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  const ask = <T>(request: Request): Promise<T> =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve as (result: unknown) => void);
      child.send({ ...request, id });
    });

  return {
    url,
    pid: child.pid!,
    reset: () => ask<null>({ cmd: 'reset' }).then(() => undefined),
    count: () => ask<StubCount>({ cmd: 'count' }),
    waitFor: (count, timeoutMs) => ask<StubCount>({ cmd: 'wait', count, timeoutMs }),
    receipts: () => ask<StubReceipts>({ cmd: 'receipts' }),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
