/**
 * A stand-in for Singer (SPEC §5) for tests, the demo and the benchmark: a real HTTP
 * server that records every push and answers what `respond` says. Like Singer, it answers
 * 2xx to an idempotency key it already delivered, and records the repeat so tests can
 * count duplicates. No per-request logging: the benchmark drives thousands a second.
 */
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SingerRequest } from '../scenarios/types.js';

export interface ReceivedPush {
  headers: IncomingHttpHeaders;
  body: SingerRequest;
  idempotencyKey: string;
  /** Date.now() when the request body had arrived. */
  receivedAt: number;
  /** What the stub answered. */
  status: number;
}

/** A push as `respond` sees it: not answered yet. */
export type IncomingPush = Omit<ReceivedPush, 'status'>;

export interface StubAnswer {
  status: number;
  /** An object is sent as JSON. Default: `{"ok":true}` for 2xx, `{"error":"<reason>"}` otherwise. */
  body?: string | Record<string, unknown>;
  headers?: Record<string, string>;
}

/** `attempt` counts this key's requests, this one included (1 on first sight). */
export type StubResponder = (
  push: IncomingPush,
  attempt: number,
) => StubAnswer | Promise<StubAnswer>;

export interface StubSingerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  respond?: StubResponder;
  /** When set, requests without `Authorization: Bearer <token>` get 401 and are not recorded. */
  token?: string;
  /**
   * Answer 200 to a key that already got a 2xx without asking `respond`, as Singer does.
   * Default true.
   */
  dedupe?: boolean;
}

export interface StubSinger {
  /** `http://host:port`, no trailing slash: the SINGER_URL to configure. */
  readonly url: string;
  /** Every well-formed push, in the order answered. */
  readonly requests: ReceivedPush[];
  /** TCP connections accepted so far: 1 for many sequential pushes proves keep-alive. */
  readonly connections: number;
  /** Resolves with the recorded pushes once at least `count` have been answered. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedPush[]>;
  /** Called for each recorded push, before the answer is written. */
  onRequest(listener: (push: ReceivedPush) => void): void;
  /** Distinct idempotency keys that got a 2xx: what a user would actually have received. */
  deliveredKeys(): Set<string>;
  /** Forgets requests, attempts, deliveries and the connection count (between bench runs). */
  reset(): void;
  /** Stops the server and drops keep-alive connections. Idempotent. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json';
const OK_BODY = '{"ok":true}';
const DUPLICATE_BODY = '{"ok":true,"duplicate":true}';

interface Waiter {
  count: number;
  resolve: (pushes: ReceivedPush[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export async function startStubSinger(options: StubSingerOptions = {}): Promise<StubSinger> {
  const { port = 0, host = '127.0.0.1', respond, token, dedupe = true } = options;

  const requests: ReceivedPush[] = [];
  const attempts = new Map<string, number>();
  const delivered = new Set<string>();
  const listeners: Array<(push: ReceivedPush) => void> = [];
  const waiters = new Set<Waiter>();
  let connections = 0;

  function record(push: ReceivedPush): void {
    requests.push(push);
    if (push.status >= 200 && push.status < 300) delivered.add(push.idempotencyKey);
    for (const listener of listeners) listener(push);
    for (const waiter of waiters) {
      if (requests.length < waiter.count) continue;
      clearTimeout(waiter.timer);
      waiters.delete(waiter);
      waiter.resolve([...requests]);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/push') {
      req.resume();
      return answer(res, { status: 404, body: { error: `no route ${req.method} ${path}` } });
    }
    const raw = await readBody(req);
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      return answer(res, { status: 401, body: { error: 'missing or wrong bearer token' } });
    }
    let body: SingerRequest;
    try {
      body = JSON.parse(raw) as SingerRequest;
    } catch {
      return answer(res, { status: 400, body: { error: 'body is not JSON' } });
    }
    const idempotencyKey = req.headers['idempotency-key'];
    if (typeof idempotencyKey !== 'string' || idempotencyKey !== body?.idempotencyKey) {
      return answer(res, {
        status: 400,
        body: { error: 'Idempotency-Key header missing or different from body.idempotencyKey' },
      });
    }

    const incoming: IncomingPush = {
      headers: req.headers,
      body,
      idempotencyKey,
      receivedAt: Date.now(),
    };
    const attempt = (attempts.get(idempotencyKey) ?? 0) + 1;
    attempts.set(idempotencyKey, attempt);

    const reply: StubAnswer =
      dedupe && delivered.has(idempotencyKey)
        ? { status: 200, body: DUPLICATE_BODY }
        : respond
          ? await respond(incoming, attempt)
          : { status: 200, body: OK_BODY };
    // Recorded before answering, so a client whose send() resolved finds its push here.
    record({ ...incoming, status: reply.status });
    answer(res, reply);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A throwing respond() or listener is a test's bug: show it to the client.
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) answer(res, { status: 500, body: { error: `stub: ${message}` } });
      else res.destroy();
    });
  });
  server.on('connection', () => {
    connections += 1;
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;

  let closing: Promise<void> | undefined;

  return {
    url,
    requests,
    get connections() {
      return connections;
    },
    waitForRequests(count, timeoutMs = 5000) {
      if (requests.length >= count) return Promise.resolve([...requests]);
      return new Promise<ReceivedPush[]>((resolve, reject) => {
        const waiter: Waiter = {
          count,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(
              new Error(`stub Singer got ${requests.length} of ${count} pushes in ${timeoutMs} ms`),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    onRequest(listener) {
      listeners.push(listener);
    },
    deliveredKeys() {
      return new Set(delivered);
    },
    reset() {
      requests.length = 0;
      attempts.clear();
      delivered.clear();
      connections = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        for (const waiter of waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(
            new Error(`stub Singer closed after ${requests.length} of ${waiter.count} pushes`),
          );
        }
        waiters.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        // server.close() alone waits for idle keep-alive sockets to time out.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, reply: StubAnswer): void {
  const body =
    reply.body === undefined
      ? defaultBody(reply.status)
      : typeof reply.body === 'string'
        ? reply.body
        : JSON.stringify(reply.body);
  res.statusCode = reply.status;
  res.setHeader('Content-Type', JSON_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  res.end(body);
}

function defaultBody(status: number): string {
  if (status >= 200 && status < 300) return OK_BODY;
  return JSON.stringify({ error: http.STATUS_CODES[status] ?? `status ${status}` });
}
