/**
 * The HTTP client for Singer (SPEC §5): one POST per push, every failure classified as
 * transient (retry) or permanent (dead-letter). Retrying itself belongs to the queue, so
 * this client makes exactly one attempt per call.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { SingerRequest } from '../scenarios/types.js';
import { SingerPermanentError, SingerTransientError } from './singer-errors.js';

export interface SingerClientOptions {
  /** e.g. `http://singer.internal:8090`; a trailing slash is tolerated. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` only when set. */
  token?: string;
  /** Deadline for one whole request, connect to last byte. */
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

/** Singer's answer, read whole: status, the one header we act on, the body verbatim. */
interface Answer {
  status: number;
  statusText: string;
  retryAfter: string | undefined;
  body: string;
}

/**
 * Node's own http client, not axios: a push is one POST of a JSON body on a keep-alive
 * socket, and axios's per-request config merging and adapters were the largest single
 * cost of a delivery (docs/BENCHMARKS.md, issue 14). It follows no redirects (a redirect
 * means a misconfigured SINGER_URL; following it would re-POST elsewhere) and ignores
 * HTTP_PROXY (Singer is an internal service).
 */
export function createSingerClient(options: SingerClientOptions): SingerClient {
  const pushUrl = new URL(`${options.baseUrl.replace(/\/+$/, '')}/push`);
  // Only for messages: userinfo in the URL would be a credential.
  const shownUrl = withoutCredentials(options.baseUrl.replace(/\/+$/, ''));
  const { timeoutMs } = options;
  const secure = pushUrl.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS })
    : new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const transport = secure ? https : http;

  // One cancel per request in flight, so close() can end them with a clear reason.
  const inFlight = new Set<() => void>();
  let closed = false;

  /** One exchange; rejects with a SingerTransientError when Singer gives no whole answer. */
  function exchange(payload: string, headers: Record<string, string | number>): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown, answer?: Answer) => {
        if (settled) return;
        settled = true;
        // The deadline covers the whole exchange (a Singer that trickles its answer still
        // fails in timeoutMs), so it is a timer of our own, not the socket's idle timeout.
        clearTimeout(deadline);
        inFlight.delete(cancel);
        if (err) {
          request.destroy();
          reject(err);
        } else resolve(answer!);
      };
      const request = transport.request(pushUrl, { method: 'POST', agent, headers }, (response) => {
        response.setEncoding('utf8');
        let body = '';
        response.on('data', (chunk: string) => (body += chunk));
        response.once('end', () => {
          const retryAfter = response.headers['retry-after'];
          settle(undefined, {
            status: response.statusCode ?? 0,
            statusText: response.statusMessage ?? '',
            retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            body,
          });
        });
        response.on('error', (err) => settle(noAnswer(err, shownUrl)));
      });
      const deadline = setTimeout(
        () =>
          settle(
            new SingerTransientError(`Singer did not answer within ${timeoutMs} ms`, {
              code: 'ETIMEDOUT',
            }),
          ),
        timeoutMs,
      );
      const cancel = () =>
        settle(
          new SingerTransientError(`request to Singer at ${shownUrl} cancelled: client closed`, {
            code: 'ERR_CANCELED',
          }),
        );
      inFlight.add(cancel);
      request.on('error', (err) => settle(noAnswer(err, shownUrl)));
      request.end(payload);
    });
  }

  async function send(request: SingerRequest): Promise<{ status: number; durationMs: number }> {
    if (closed) throw new Error(`Singer client for ${shownUrl} is closed`);
    const payload = JSON.stringify(request);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
      'Idempotency-Key': request.idempotencyKey,
    };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;

    const startedAt = performance.now();
    const { status, statusText: text, retryAfter, body } = await exchange(payload, headers);
    const durationMs = performance.now() - startedAt;
    if (status >= 200 && status < 300) return { status, durationMs };

    const statusText = text || http.STATUS_CODES[status] || '';
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      throw new SingerPermanentError(status, statusText, body);
    }
    // 408, 429, 5xx, and the unexpected (1xx, 3xx): nothing says the push itself is bad.
    const retryAfterMs = retryAfter === undefined ? undefined : parseRetryAfter(retryAfter);
    throw SingerTransientError.fromAnswer(status, statusText, body, retryAfterMs);
  }

  function close(): void {
    if (closed) return;
    closed = true;
    for (const cancel of [...inFlight]) cancel();
    agent.destroy();
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

/**
 * Singer never answered: a network error (refused, reset, unresolvable…), transient (SPEC §5).
 * Node's system error is the cause; it carries no request headers, so never the token.
 */
function noAnswer(err: Error, shownUrl: string): SingerTransientError {
  const code = (err as { code?: unknown }).code;
  const known = typeof code === 'string' ? code : undefined;
  return new SingerTransientError(`cannot reach Singer at ${shownUrl} (${known ?? err.message})`, {
    code: known,
    cause: err,
  });
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
