/**
 * Several test files run the built CLI (`node dist/src/cli.js`) as an operator would.
 * `npm test` builds first; when one test file runs alone, the global setup rebuilds here
 * if dist/ is missing or older than a source file. Once, before any file starts, so two
 * files running in parallel never build over each other.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

export function buildCliIfStale(): void {
  const stale = ['src', 'migrations'].some((dir) =>
    readdirSync(join(packageRoot, dir), { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.ts'))
      .some((file) => {
        const built = join(packageRoot, 'dist', dir, file.replace(/\.ts$/, '.js'));
        return (
          !existsSync(built) ||
          statSync(built).mtimeMs < statSync(join(packageRoot, dir, file)).mtimeMs
        );
      }),
  );
  if (stale) execFileSync('npm', ['run', 'build'], { cwd: packageRoot, stdio: 'pipe' });
}
