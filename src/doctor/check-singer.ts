/**
 * Whether Singer answers at SINGER_URL, without sending a push: a GET of the base URL.
 * Any HTTP answer proves the address and the network path; what it says to a GET does not
 * matter (Singer only knows POST /push).
 */
import { redactUrl } from '../config.js';
import { errorMessage, fail, ok, warn, type CheckResult } from './check-result.js';

const CHECK = 'singer';

export async function checkSinger(singerUrl: string, timeoutMs: number): Promise<CheckResult> {
  const where = redactUrl(singerUrl);
  let status: number;
  try {
    const response = await fetch(singerUrl, {
      method: 'GET',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    await response.body?.cancel();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (cause?.code ?? errorMessage(cause ?? err));
    return fail(
      CHECK,
      `cannot reach Singer at ${where} (${why}); nothing was sent`,
      'check SINGER_URL and that this host may reach Singer (firewall, security group)',
    );
  }
  if (status >= 500) {
    return warn(
      CHECK,
      `Singer at ${where} answers, but with HTTP ${status} to a GET (no push sent): it may be unwell`,
      "check Singer's health; pushes are retried meanwhile",
    );
  }
  return ok(CHECK, `Singer at ${where} answers (HTTP ${status} to a GET; no push sent)`);
}
