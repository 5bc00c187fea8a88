/**
 * `push doctor [--json]`: checks MySQL, the account, the trigger, the outbox, Redis and
 * Singer, one verdict a line, with the exact fix under each failure. Exits 1 when any
 * check fails (warnings alone exit 0), so scripts and deploy pipelines can gate on it.
 */
import type { Config } from '../config.js';
import { redactUrl } from '../config.js';
import { describeRedis } from '../redis/redis-settings.js';
import type { CheckResult } from '../doctor/check-result.js';
import { runDoctor, type DoctorReport } from '../doctor/run-doctor.js';

export async function runDoctorCommand(config: Config, opts: { json?: boolean }): Promise<void> {
  const report = await runDoctor(config);
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatReport(config, report));
  if (!report.ok) process.exitCode = 1;
}

const NAME_WIDTH = 16;

export function formatReport(config: Config, report: DoctorReport): string {
  const lines = [
    `push doctor — MySQL ${redactUrl(config.databaseUrl)}, Redis ${describeRedis(config.redis)}, Singer ${redactUrl(config.singerUrl)}`,
    '',
  ];
  for (const check of report.checks) lines.push(...formatCheck(check));
  lines.push('');
  const counted = [plural(report.failures, 'failure'), plural(report.warnings, 'warning')];
  lines.push(
    report.failures === 0 && report.warnings === 0
      ? 'all checks passed'
      : `${counted.join(', ')}${report.ok ? '' : ': fix the failures above, then run `npx push doctor` again'}`,
  );
  return lines.join('\n');
}

function formatCheck(check: CheckResult): string[] {
  const indent = ' '.repeat(6 + NAME_WIDTH);
  const lines = [`${check.verdict.padEnd(6)}${check.check.padEnd(NAME_WIDTH)}${check.summary}`];
  for (const detail of check.details) lines.push(`${indent}· ${detail}`);
  if (check.fix) {
    const [first, ...rest] = check.fix.split('\n');
    lines.push(`${indent}fix: ${first}`);
    for (const line of rest) lines.push(`${indent}     ${line}`);
  }
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
