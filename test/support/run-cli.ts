/**
 * Runs the built CLI (`node dist/src/cli.js <args>`) as an operator would, with PATH,
 * LOG_LEVEL=silent and `env` as its only environment (so the test machine's own variables
 * never leak in). The global setup builds dist/ first.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLI = join(packageRoot, 'dist', 'src', 'cli.js');

export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: packageRoot,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A CLI that hangs instead of failing is a failure too; this only bounds the test.
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}
