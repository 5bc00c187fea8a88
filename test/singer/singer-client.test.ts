import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SingerRequest } from '../../src/scenarios/types.js';
import {
  createSingerClient,
  parseRetryAfter,
  type SingerClient,
} from '../../src/singer/singer-client.js';
import {
  SingerPermanentError,
  SingerTransientError,
  isTransient,
} from '../../src/singer/singer-errors.js';
import {
  startStubSinger,
  type StubSinger,
  type StubSingerOptions,
} from '../../src/singer/stub-singer.js';

const TOKEN = 'secret-token-123';

function pushFor(key = 'evt-456-NURSE_ACCEPTED'): SingerRequest {
  return {
    idempotencyKey: key,
    channel: 'wechat',
    to: { role: 'patient', id: '98' },
    scenario: 'NURSE_ACCEPTED',
    operate: '护士接单',
    content: '您的订单已接单，点击查看订单详情。',
    url: 'https://example.invalid/orders/123',
    data: { orderId: '123', eventId: '456', nurse: { id: '7', name: '王芳' } },
  };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  // Reverse order: clients before the server they talk to.
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function stub(options: StubSingerOptions = {}): Promise<StubSinger> {
  const singer = await startStubSinger(options);
  cleanups.push(() => singer.close());
  return singer;
}

function client(baseUrl: string, extra: { token?: string; timeoutMs?: number } = {}): SingerClient {
  const singer = createSingerClient({ baseUrl, timeoutMs: 2000, ...extra });
  cleanups.push(() => singer.close());
  return singer;
}

/** A bare HTTP server whose handler does what no stand-in Singer would. */
async function rawServer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The promise's rejection, so its fields can be inspected. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

describe('Singer client', () => {
  it('delivers a push on 200 with Content-Type, Idempotency-Key and the bearer token', async () => {
    const singer = await stub();
    const result = await client(singer.url, { token: TOKEN }).send(pushFor());

    expect(result.status).toBe(200);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    const [received] = singer.requests;
    expect(received?.body).toEqual(pushFor());
    expect(received?.headers['content-type']).toMatch(/^application\/json/);
    expect(received?.headers['idempotency-key']).toBe('evt-456-NURSE_ACCEPTED');
    expect(received?.idempotencyKey).toBe(received?.body.idempotencyKey);
    expect(received?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(singer.deliveredKeys()).toEqual(new Set(['evt-456-NURSE_ACCEPTED']));
  });

  it('sends no Authorization header when no token is configured', async () => {
    const singer = await stub();
    await client(singer.url).send(pushFor());

    expect(singer.requests[0]?.headers).not.toHaveProperty('authorization');
  });

  it('tolerates a trailing slash in the base URL', async () => {
    const singer = await stub();
    await client(`${singer.url}/`).send(pushFor());

    expect(singer.requests).toHaveLength(1);
  });

  it('treats 503 as transient and keeps the status and body', async () => {
    const singer = await stub({ respond: () => ({ status: 503, body: 'down for maintenance' }) });
    const err = await failure(client(singer.url).send(pushFor()));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(isTransient(err)).toBe(true);
    expect(err).toMatchObject({ status: 503, body: 'down for maintenance' });
    expect((err as Error).message).toBe(
      'Singer answered 503 Service Unavailable: down for maintenance',
    );
  });

  it('treats 408 as transient', async () => {
    const singer = await stub({ respond: () => ({ status: 408 }) });
    const err = await failure(client(singer.url).send(pushFor()));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(err).toMatchObject({ status: 408 });
  });

  it('treats 429 as transient and honours Retry-After in seconds', async () => {
    const singer = await stub({
      respond: () => ({ status: 429, headers: { 'Retry-After': '2' } }),
    });
    const err = await failure(client(singer.url).send(pushFor()));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(err).toMatchObject({ status: 429, retryAfterMs: 2000 });
  });

  it('reads Retry-After given as an HTTP date', async () => {
    const singer = await stub({
      respond: () => ({
        status: 503,
        headers: { 'Retry-After': new Date(Date.now() + 5000).toUTCString() },
      }),
    });
    const err = (await failure(client(singer.url).send(pushFor()))) as SingerTransientError;

    // HTTP dates have whole seconds, so up to one second is lost.
    expect(err.retryAfterMs).toBeGreaterThan(3500);
    expect(err.retryAfterMs).toBeLessThanOrEqual(5000);
  });

  it('dead-letters a push Singer refuses with 400, keeping Singer’s answer', async () => {
    const singer = await stub({
      respond: () => ({ status: 400, body: { error: 'unknown channel' } }),
    });
    const err = await failure(client(singer.url).send(pushFor()));

    expect(err).toBeInstanceOf(SingerPermanentError);
    expect(isTransient(err)).toBe(false);
    expect(err).toMatchObject({ status: 400, body: '{"error":"unknown channel"}' });
    expect((err as Error).message).toBe(
      'Singer answered 400 Bad Request: {"error":"unknown channel"}',
    );
  });

  it.each([404, 422])('treats %i as permanent', async (status) => {
    const singer = await stub({ respond: () => ({ status }) });
    const err = await failure(client(singer.url).send(pushFor()));

    expect(err).toBeInstanceOf(SingerPermanentError);
    expect(err).toMatchObject({ status });
  });

  it('truncates a huge error body', async () => {
    const singer = await stub({ respond: () => ({ status: 500, body: 'x'.repeat(100_000) }) });
    const err = (await failure(client(singer.url).send(pushFor()))) as SingerTransientError;

    expect(err.body?.length).toBeLessThan(2200);
    expect(err.message.length).toBeLessThan(300);
  });

  it('times out a Singer that answers too slowly, as transient', async () => {
    const singer = await stub({
      respond: async () => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return { status: 200 };
      },
    });
    const startedAt = Date.now();
    const err = await failure(client(singer.url, { timeoutMs: 150 }).send(pushFor()));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', status: undefined });
    expect((err as Error).message).toBe('Singer did not answer within 150 ms');
    expect(Date.now() - startedAt).toBeLessThan(900);
  });

  it('times out a Singer that trickles its answer, however steadily, as transient', async () => {
    // Headers at once, then a byte every 40 ms for two seconds: the socket is never idle,
    // so only a deadline on the whole exchange ends it.
    const url = await rawServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      let sent = 0;
      const drip = setInterval(() => {
        if (sent++ >= 50 || res.destroyed) {
          clearInterval(drip);
          res.end();
        } else res.write(' ');
      }, 40);
    });
    const startedAt = Date.now();
    const err = await failure(client(url, { timeoutMs: 300 }).send(pushFor()));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    expect((err as Error).message).toBe('Singer did not answer within 300 ms');
    expect(Date.now() - startedAt).toBeLessThan(1_500);
  });

  it('times out requests sent together, and sends the next one normally', async () => {
    // Requests started this close together share one deadline (shared-deadlines.ts).
    let slow = true;
    const url = await rawServer((_req, res) => {
      if (!slow) res.writeHead(200).end();
    });
    const singerClient = client(url, { timeoutMs: 150 });
    const keys = ['evt-1-A', 'evt-2-A', 'evt-3-A'];
    const errors = await Promise.all(keys.map((key) => failure(singerClient.send(pushFor(key)))));
    slow = false;
    const next = await singerClient.send(pushFor('evt-4-A'));

    for (const err of errors) expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    expect(next.status).toBe(200);
  });

  it('sends again at once when Singer closed a kept-alive connection as it was reused', async () => {
    // What an idle timeout on Singer's side looks like when it runs out just as the client
    // reuses the connection: the request is read, and the connection closed unanswered.
    const arrivals: string[] = [];
    const requestsOn = new Map<unknown, number>();
    const url = await rawServer((req, res) => {
      arrivals.push(String(req.headers['idempotency-key']));
      const seen = (requestsOn.get(req.socket) ?? 0) + 1;
      requestsOn.set(req.socket, seen);
      if (seen === 2) req.socket.destroy();
      else res.writeHead(200).end();
    });
    const singerClient = client(url);
    await singerClient.send(pushFor('evt-1-A'));
    const again = await singerClient.send(pushFor('evt-2-A'));

    expect(again.status).toBe(200);
    expect(arrivals).toEqual(['evt-1-A', 'evt-2-A', 'evt-2-A']);
  });

  it('does not send again when a new connection is closed unanswered', async () => {
    const arrivals: string[] = [];
    const url = await rawServer((req) => {
      arrivals.push(String(req.headers['idempotency-key']));
      req.socket.destroy();
    });
    const err = await failure(client(url).send(pushFor('evt-1-A')));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(err).toMatchObject({ code: 'ECONNRESET' });
    expect(arrivals).toEqual(['evt-1-A']);
  });

  it('cancels a request in flight when the client is closed', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const url = await rawServer(() => arrived()); // never answers
    const singerClient = client(url, { timeoutMs: 10_000 });
    const sending = failure(singerClient.send(pushFor()));
    await requestArrived;
    singerClient.close();
    const err = await sending;

    expect(err).toBeInstanceOf(SingerTransientError);
    expect((err as Error).message).toMatch(/cancelled: client closed/);
  });

  it('reports a refused connection as transient, naming the address', async () => {
    const baseUrl = await closedPortUrl();
    const err = await failure(client(baseUrl, { token: TOKEN }).send(pushFor()));

    expect(err).toBeInstanceOf(SingerTransientError);
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect((err as Error).message).toBe(`cannot reach Singer at ${baseUrl} (ECONNREFUSED)`);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('never puts the token in an error or its causes', async () => {
    const singer = await stub({ respond: () => ({ status: 401, body: 'bad token' }) });
    const refused = await failure(client(await closedPortUrl(), { token: TOKEN }).send(pushFor()));
    const answered = await failure(client(singer.url, { token: TOKEN }).send(pushFor()));

    for (const err of [refused, answered]) {
      expect(JSON.stringify(errorChain(err))).not.toContain(TOKEN);
    }
  });

  it('reuses one keep-alive connection for sequential pushes', async () => {
    const singer = await stub();
    const singerClient = client(singer.url);
    for (let i = 0; i < 5; i++) await singerClient.send(pushFor(`evt-${i}-NURSE_ACCEPTED`));

    expect(singer.requests).toHaveLength(5);
    expect(singer.connections).toBe(1);
  });

  it('sets TCP keep-alive on its connection once, not on every push', async () => {
    const singer = await stub();
    const singerClient = client(singer.url);
    await singerClient.send(pushFor('evt-0-NURSE_ACCEPTED'));
    // Every TCP handle, a listening one too, shares this prototype; its setKeepAlive is the
    // system call that net.Socket#setKeepAlive skips when asked for what the socket has already.
    const listening = net.createServer();
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const tcp = Object.getPrototypeOf((listening as unknown as { _handle: object })._handle) as {
      setKeepAlive: (...args: unknown[]) => unknown;
    };
    listening.close();
    const original = tcp.setKeepAlive;
    let calls = 0;
    tcp.setKeepAlive = function (this: unknown, ...args: unknown[]) {
      calls += 1;
      return original.apply(this, args);
    };
    try {
      for (let i = 1; i <= 5; i++) await singerClient.send(pushFor(`evt-${i}-NURSE_ACCEPTED`));
    } finally {
      tcp.setKeepAlive = original;
    }

    expect(singer.connections).toBe(1);
    expect(calls).toBe(0);
  });

  it('rejects sends after close', async () => {
    const singer = await stub();
    const singerClient = client(singer.url);
    singerClient.close();
    singerClient.close();

    await expect(singerClient.send(pushFor())).rejects.toThrow(/is closed/);
  });
});

describe('stub Singer', () => {
  it('answers 2xx to a repeated key without asking respond, and records the repeat', async () => {
    let asked = 0;
    const singer = await stub({
      respond: (_push, attempt) => {
        asked += 1;
        return { status: attempt === 1 ? 503 : 200 };
      },
    });
    const singerClient = client(singer.url);
    await expect(singerClient.send(pushFor('k1'))).rejects.toBeInstanceOf(SingerTransientError);
    await singerClient.send(pushFor('k1'));
    await singerClient.send(pushFor('k1'));

    expect(asked).toBe(2);
    expect(singer.requests.map((push) => push.status)).toEqual([503, 200, 200]);
    expect(singer.deliveredKeys()).toEqual(new Set(['k1']));
  });

  it('answers 404 to anything but POST /push', async () => {
    const singer = await stub();
    const response = await fetch(`${singer.url}/other`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(404);
    expect(singer.requests).toHaveLength(0);
  });

  it('refuses a push whose Idempotency-Key header differs from the body', async () => {
    const singer = await stub();
    const response = await fetch(`${singer.url}/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'other' },
      body: JSON.stringify(pushFor()),
    });

    expect(response.status).toBe(400);
    expect(singer.requests).toHaveLength(0);
  });

  it('waits for pushes sent later', async () => {
    const singer = await stub();
    const waiting = singer.waitForRequests(2, 2000);
    const singerClient = client(singer.url);
    await Promise.all([singerClient.send(pushFor('a')), singerClient.send(pushFor('b'))]);

    expect((await waiting).map((push) => push.idempotencyKey).sort()).toEqual(['a', 'b']);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP date, and a past date as no wait', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
  });

  it('ignores what is neither', () => {
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
  });
});

/** A URL where nothing listens: a port the OS just handed out and took back. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** Each error in the cause chain with all its own properties, as a logger might dump it. */
function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = err; current instanceof Error; current = current.cause) {
    const props: Record<string, unknown> = { message: current.message, stack: current.stack };
    for (const key of Object.keys(current)) {
      const value = (current as unknown as Record<string, unknown>)[key];
      props[key] = value instanceof Error ? '[cause]' : safeJson(value);
    }
    chain.push(props);
  }
  return chain;
}

function safeJson(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value) ?? 'null');
  } catch {
    return '[unserialisable]';
  }
}
