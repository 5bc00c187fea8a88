// No GitHub runner here, so .github/workflows/ci.yml is checked by reading it: it parses as
// YAML, runs `npm test` for every server RDS and Aliyun users run (MySQL 8.0, 8.4, MariaDB 10.11)
// on Node 20, 22 and 24 with Redis 7, logs in with a URL-special password and TLS on MySQL 8,
// and sets what migrating needs. The password in TEST_DATABASE_URL must be the service's, encoded.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../src/package-root.js';

interface MatrixDatabase {
  name: string;
  image: string;
  health: string;
  tls: string;
}

interface Workflow {
  on: Record<string, unknown>;
  jobs: {
    test: {
      container: { image: string };
      strategy: { matrix: { node: string[]; database: MatrixDatabase[] } };
      services: Record<string, { image: string; env?: Record<string, string>; options: string }>;
      env: Record<string, string>;
      steps: Array<{ name?: string; uses?: string; run?: string }>;
    };
  };
}

let workflow: Workflow;
let job: Workflow['jobs']['test'];

beforeAll(async () => {
  const text = await readFile(join(packageRoot, '.github', 'workflows', 'ci.yml'), 'utf8');
  workflow = parse(text, { strict: true, uniqueKeys: true }) as Workflow;
  job = workflow.jobs.test;
});

/** The job's value of `expression` for one matrix entry (only ${{ matrix.… }} is used). */
function expand(expression: string, node: string, database: MatrixDatabase): string {
  return expression.replace(/\$\{\{\s*matrix\.([\w.]+)\s*\}\}/g, (_, path: string) => {
    if (path === 'node') return node;
    const key = path.replace(/^database\./, '') as keyof MatrixDatabase;
    return database[key];
  });
}

describe('.github/workflows/ci.yml', () => {
  it('runs on pushes and pull requests', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push']);
  });

  it('tests every database against every Node LTS the package supports', () => {
    const { node, database } = job.strategy.matrix;
    expect(node).toEqual(['20', '22', '24']);
    expect(database.map((d) => d.image)).toEqual(['mysql:8.0', 'mysql:8.4', 'mariadb:10.11']);
    expect(job.container.image).toBe('node:${{ matrix.node }}-bookworm');
    expect(job.services.mysql?.image).toBe('${{ matrix.database.image }}');
    expect(job.services.redis?.image).toBe('redis:7');
    expect(job.env.TEST_REDIS_URL).toBe('redis://redis:6379');
  });

  it('logs in with the service’s URL-special root password, percent-encoded, and TLS on MySQL 8', () => {
    const env = job.services.mysql?.env ?? {};
    const password = env.MYSQL_ROOT_PASSWORD ?? '';
    expect(env.MARIADB_ROOT_PASSWORD).toBe(password);
    for (const char of ['@', ':', '/', '?', '#', '%', '+', '&', '=', ' ']) {
      expect(password).toContain(char);
    }
    for (const database of job.strategy.matrix.database) {
      const url = new URL(expand(job.env.TEST_DATABASE_URL ?? '', '22', database));
      expect(url.host).toBe('mysql:3306');
      expect(decodeURIComponent(url.username)).toBe('root');
      expect(decodeURIComponent(url.password)).toBe(password);
      const mysql8 = database.image.startsWith('mysql:8');
      expect(url.searchParams.get('ssl-mode')).toBe(mysql8 ? 'REQUIRED' : null);
    }
  });

  it('installs the servers the tests start, prepares the server, then runs npm test', () => {
    const runs = job.steps.map((step) => step.run ?? '').join('\n');
    for (const pkg of [
      'mariadb-server-core',
      'redis-server',
      'openssl',
      'chromium',
      'docker-compose',
    ]) {
      expect(runs).toContain(pkg);
    }
    const order = ['npm ci', 'node .ci/prepare-database.mjs', 'npm test'].map((command) =>
      job.steps.findIndex(
        (step) => step.run?.trim() === command || step.run?.startsWith(`${command} `),
      ),
    );
    expect(order.every((index, i) => index > (order[i - 1] ?? 0))).toBe(true);
    expect(job.services.mysql?.options).toContain('--health-cmd "${{ matrix.database.health }}"');
  });
});
