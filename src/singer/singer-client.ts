/**
 * The HTTP client for Singer (SPEC §5): one POST per push, every failure classified as
 * transient (retry) or permanent (dead-letter). Retrying itself belongs to the queue, so
 * this client makes one attempt per call. One exception: a POST that meets a kept-alive
 * connection Singer closed just as it was reused (its idle timeout ran out meanwhile) is sent
 * again at once on a new connection, as Node's documentation of `request.reusedSocket`
 * advises. It did not reach Singer, and if it somehow had, Singer drops the repeated key.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import axios, { Axios, type AxiosError } from 'axios';
import type { SingerRequest } from '../scenarios/types.js';
import { sharedDeadlines } from './shared-deadlines.js';
import { SingerPermanentError, SingerTransientError } from './singer-errors.js';

export interface SingerClientOptions {
  /** e.g. `http://singer.internal:8090`; a trailing slash is tolerated. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` only when set. */
  token?: string;
  /** Deadline for one whole request, connect to last byte (at most DEADLINE_SLICE_MS more). */
  timeoutMs: number;
}

export interface SingerClient {
  /** Resolves on 2xx; otherwise throws SingerTransientError or SingerPermanentError. */
  send(request: SingerRequest): Promise<{ status: number; durationMs: number }>;
  /** Drops the keep-alive sockets. Idempotent. */
  close(): void;
}

/**
 * Enough parallel sockets for the worker's concurrency at thousands of pushes a second
 * (each push holds a socket for one round trip of a few ms), few enough not to flood Singer.
 */
const MAX_SOCKETS = 64;

/** How late a request's deadline may be: requests started this close together share one. */
const DEADLINE_SLICE_MS = 20;

/**
 * TCP keep-alive probing of an idle socket, the value axios's adapter sets on every request's
 * socket. The agent sets its own each time a socket goes back to the pool; two different
 * values made both calls real `setsockopt`s, eight a push (docs/BENCHMARKS.md, step 9), while
 * the same value makes them no-ops after the first. So a pooled socket on a dead network path
 * is found after about 70 s idle (60 s, then ten probes a second apart), not 11 s; a push sent
 * on one meanwhile fails at the deadline and is retried like any timeout.
 */
const AXIOS_KEEP_ALIVE_MS = 60_000;

export function createSingerClient(options: SingerClientOptions): SingerClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const pushUrl = `${baseUrl}/push`;
  // Only for messages: userinfo in the URL would be a credential.
  const shownUrl = withoutCredentials(baseUrl);
  const { timeoutMs } = options;

  const agentOptions = {
    keepAlive: true,
    keepAliveMsecs: AXIOS_KEEP_ALIVE_MS,
    maxSockets: MAX_SOCKETS,
  };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);
  // An Axios of its own rather than axios.create(): every request merges its instance's
  // defaults, and create() copies all of axios's global ones (headers per method, request and
  // response transforms, …) that this client has no use for. The body is serialised here,
  // once; the answer is kept as text. With the deadlines below, a sixth less CPU per request
  // (docs/BENCHMARKS.md, step 7).
  const instance = new Axios({
    adapter: 'http',
    httpAgent,
    httpsAgent,
    timeout: timeoutMs,
    // Every status is an answer to classify here, not an exception thrown by axios.
    validateStatus: () => true,
    // A redirect means a misconfigured SINGER_URL; following it would re-POST elsewhere.
    maxRedirects: 0,
    // Singer is an internal service: HTTP_PROXY meant for the internet must not reroute it.
    proxy: false,
    // Singer's body verbatim, for the dead-letter queue.
    responseType: 'text',
  });

  // axios's own timeout restarts on socket activity; this deadline covers the whole
  // exchange, so a Singer that trickles its answer still fails in timeoutMs.
  const deadlines = sharedDeadlines(timeoutMs, DEADLINE_SLICE_MS);
  let closed = false;

  async function send(request: SingerRequest): Promise<{ status: number; durationMs: number }> {
    if (closed) throw new Error(`Singer client for ${shownUrl} is closed`);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Idempotency-Key': request.idempotencyKey,
    };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;

    const deadline = deadlines.start();
    const payload = JSON.stringify(request);
    const post = () =>
      instance.post<string>(pushUrl, payload, { headers, signal: deadline.signal });
    const startedAt = performance.now();
    let response;
    try {
      response = await post().catch((err: unknown) => {
        if (closedWhileIdle(err)) return post();
        throw err;
      });
    } catch (err) {
      throw classifyNoAnswer(err, { shownUrl, timeoutMs, timedOut: deadline.timedOut });
    } finally {
      deadline.release();
    }
    const durationMs = performance.now() - startedAt;

    const { status } = response;
    if (status >= 200 && status < 300) return { status, durationMs };

    const statusText = response.statusText || http.STATUS_CODES[status] || '';
    const body = typeof response.data === 'string' ? response.data : String(response.data ?? '');
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      throw new SingerPermanentError(status, statusText, body);
    }
    // 408, 429, 5xx, and the unexpected (1xx, 3xx): nothing says the push itself is bad.
    const retryAfter = response.headers['retry-after'];
    const retryAfterMs = typeof retryAfter === 'string' ? parseRetryAfter(retryAfter) : undefined;
    throw SingerTransientError.fromAnswer(status, statusText, body, retryAfterMs);
  }

  function close(): void {
    if (closed) return;
    closed = true;
    deadlines.cancelAll();
    httpAgent.destroy();
    httpsAgent.destroy();
  }

  return { send, close };
}

/**
 * `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns the
 * wait in ms (0 for a date already past), or undefined when the value is neither.
 */
export function parseRetryAfter(value: string, now: number = Date.now()): number | undefined {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Date.parse accepts bare numbers and other loose forms; an HTTP-date always has letters.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

interface NoAnswerContext {
  shownUrl: string;
  timeoutMs: number;
  timedOut: boolean;
}

/** Reset before any answer, on a connection kept alive from an earlier request. */
function closedWhileIdle(err: unknown): boolean {
  if (!axios.isAxiosError(err) || err.response) return false;
  const request = err.request as { reusedSocket?: boolean } | undefined;
  return request?.reusedSocket === true && networkCode(err) === 'ECONNRESET';
}

/** Singer never answered: a timeout or a network error, both transient (SPEC §5). */
function classifyNoAnswer(err: unknown, context: NoAnswerContext): unknown {
  // Anything but an AxiosError is a bug on our side, not news about Singer.
  if (!axios.isAxiosError(err)) return err;
  const cause = safeCause(err);
  const code = networkCode(err);
  if (context.timedOut || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
    return new SingerTransientError(`Singer did not answer within ${context.timeoutMs} ms`, {
      code: 'ETIMEDOUT',
      cause,
    });
  }
  if (axios.isCancel(err)) {
    return new SingerTransientError(
      `request to Singer at ${context.shownUrl} cancelled: client closed`,
      {
        code: 'ERR_CANCELED',
        cause,
      },
    );
  }
  return new SingerTransientError(
    `cannot reach Singer at ${context.shownUrl} (${code ?? err.message})`,
    { code, cause },
  );
}

/** ECONNREFUSED and friends sit on the AxiosError or on the system error it wraps. */
function networkCode(err: AxiosError): string | undefined {
  const wrapped = (err.cause as { code?: unknown } | undefined)?.code;
  return typeof wrapped === 'string' ? wrapped : err.code;
}

/**
 * An AxiosError carries the request config, headers and all, so chaining it would put the
 * bearer token in any log that serialises causes. Chain the system error it wraps, or a
 * plain copy of its message.
 */
function safeCause(err: AxiosError): Error {
  if (err.cause instanceof Error && !axios.isAxiosError(err.cause)) return err.cause;
  const plain = new Error(err.message);
  (plain as Error & { code?: string }).code = err.code;
  return plain;
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/+$/, '');
  } catch {
    return url;
  }
}
