/**
 * No Docker engine runs in CI, so the compose file is checked against the Compose schema
 * by `docker-compose config` (Debian's docker-compose, installed by .ci/run), and the
 * Dockerfile's promises (current LTS, multi-stage, non-root) are read from its text.
 */
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';
import { runTool } from './deploy-files.js';

function composeConfig(file: string) {
  return runTool('docker-compose', ['-f', file, 'config', '-q'], {
    installHint: '`apt-get install docker-compose` (.ci/run does)',
  });
}

describe('deployment files', () => {
  it('docker-compose.yml validates against the Compose schema', async () => {
    const result = await composeConfig(join(packageRoot, 'docker-compose.yml'));
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });

  it('the compose check rejects a file with an unknown option (so it can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'push-compose-'));
    const bad = join(dir, 'docker-compose.yml');
    await writeFile(bad, 'services:\n  push:\n    image: push\n    restart_policy: always\n');
    const result = await composeConfig(bad);
    expect(result.ok).toBe(false);
    expect(result.stderr).toMatch(/restart_policy/);
  });

  it('the compose file runs MySQL like RDS and Redis without eviction', async () => {
    const compose = await readFile(join(packageRoot, 'docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/image: mysql:8\.0/);
    expect(compose).toMatch(/--log-bin/);
    expect(compose).toMatch(/--log-bin-trust-function-creators=1/);
    expect(compose).toMatch(/--maxmemory-policy", "noeviction"/);
    expect(compose).toMatch(/--appendonly", "yes"/);
  });

  it('the Dockerfile builds in stages on a current Node LTS and runs as a non-root user', async () => {
    const dockerfile = await readFile(join(packageRoot, 'Dockerfile'), 'utf8');
    const stages = dockerfile.match(/^FROM .*/gm) ?? [];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(/node:(22|24)\b/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "dist\/src\/cli\.js"\]/);
  });
});
