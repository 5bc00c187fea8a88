/**
 * What one doctor check found: a verdict, one line that says what, and for a warning or a
 * failure the exact thing to do about it (an SQL statement, a parameter to set).
 */
export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Short and stable, for scripts reading `--json`: `grants`, `redis`, … */
  check: string;
  verdict: Verdict;
  /** One line: what was found, in plain words. */
  summary: string;
  /** Further lines worth reading: what is needed and why, notes. */
  details: string[];
  /** For a warning or failure: what to run or set, exactly. */
  fix?: string;
}

export function ok(check: string, summary: string, details: string[] = []): CheckResult {
  return { check, verdict: 'ok', summary, details };
}

export function warn(
  check: string,
  summary: string,
  fix: string,
  details: string[] = [],
): CheckResult {
  return { check, verdict: 'warn', summary, details, fix };
}

export function fail(
  check: string,
  summary: string,
  fix: string,
  details: string[] = [],
): CheckResult {
  return { check, verdict: 'fail', summary, details, fix };
}

export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(errorMessage).join('; ');
  }
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : err.name);
  }
  return String(err);
}
