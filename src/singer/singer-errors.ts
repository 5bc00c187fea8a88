/**
 * How a push to Singer failed, one class per meaning (SPEC §5): a transient failure is
 * worth retrying with backoff, a permanent one goes straight to the dead-letter queue
 * with Singer's answer kept.
 */

/** Singer's answers are short; anything longer is an HTML error page or a proxy's. */
export const MAX_KEPT_BODY_CHARS = 2048;

/** Long enough to see what Singer said in a log line, short enough to keep it one line. */
const MAX_MESSAGE_BODY_CHARS = 200;

export function truncateBody(body: string, maxChars = MAX_KEPT_BODY_CHARS): string {
  return body.length <= maxChars ? body : `${body.slice(0, maxChars)}… (${body.length} chars)`;
}

function describeAnswer(status: number, statusText: string, body: string): string {
  const said = body.trim() === '' ? '' : `: ${truncateBody(body.trim(), MAX_MESSAGE_BODY_CHARS)}`;
  return `Singer answered ${status} ${statusText}`.trimEnd() + said;
}

export interface SingerTransientDetails {
  status?: number;
  body?: string;
  retryAfterMs?: number;
  /** The network error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT…) when Singer did not answer. */
  code?: string;
  cause?: unknown;
}

/** 408, 429, 5xx, a timeout or a connection error: retry with backoff. */
export class SingerTransientError extends Error {
  override readonly name = 'SingerTransientError';
  readonly status?: number;
  readonly body?: string;
  /** What Singer asked for in `Retry-After`; the retry policy decides how far to honour it. */
  readonly retryAfterMs?: number;
  readonly code?: string;

  constructor(message: string, details: SingerTransientDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.body = details.body === undefined ? undefined : truncateBody(details.body);
    this.retryAfterMs = details.retryAfterMs;
    this.code = details.code;
  }

  static fromAnswer(
    status: number,
    statusText: string,
    body: string,
    retryAfterMs?: number,
  ): SingerTransientError {
    return new SingerTransientError(describeAnswer(status, statusText, body), {
      status,
      body,
      retryAfterMs,
    });
  }
}

/** Any other 4xx: Singer refuses this push and will refuse it again. */
export class SingerPermanentError extends Error {
  override readonly name = 'SingerPermanentError';
  readonly status: number;
  /** Singer's answer, kept for the dead-letter queue. */
  readonly body: string;

  constructor(status: number, statusText: string, body: string) {
    super(describeAnswer(status, statusText, body));
    this.status = status;
    this.body = truncateBody(body);
  }
}

export function isTransient(err: unknown): err is SingerTransientError {
  return err instanceof SingerTransientError;
}

export function isPermanent(err: unknown): err is SingerPermanentError {
  return err instanceof SingerPermanentError;
}
