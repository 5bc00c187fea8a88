// deploy/kubernetes/rollout.sh keeps the order the schema needs: the configuration, then the
// migration Job, waited for to completion, and only then the Deployments. Run against a stand-in
// `kubectl` on PATH that records every call and reports the Job's conditions as a test sets them
// (there is no cluster here); the script itself is the one operators run.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KUBERNETES_DIR } from './kubernetes-manifests.js';

const run = promisify(execFile);
const ROLLOUT = join(KUBERNETES_DIR, 'rollout.sh');

// Answers `get secret` as FAKE_SECRET says, and `get job push-migrate` with no condition for
// the first two polls, then with FAKE_JOB_CONDITIONS.
const FAKE_KUBECTL = `#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls"
case "$*" in
  *"get secret push-secrets"*) [ "$FAKE_SECRET" = present ] ;;
  *"get job push-migrate"*)
    polls=$(( $(cat "$FAKE_DIR/polls" 2>/dev/null || echo 0) + 1 ))
    echo "$polls" > "$FAKE_DIR/polls"
    if [ "$polls" -ge 3 ]; then printf '%s ' $FAKE_JOB_CONDITIONS; fi ;;
  *"logs job/push-migrate"*) echo 'Error: ER_BINLOG_CREATE_ROUTINE_NEED_SUPER (1419)' ;;
esac
`;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'push-rollout-'));
  await writeFile(join(dir, 'kubectl'), FAKE_KUBECTL);
  await chmod(join(dir, 'kubectl'), 0o755);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rollout(env: { secret: 'present' | 'missing'; conditions: string }) {
  const result = await run('bash', [ROLLOUT, '-n', 'push'], {
    env: {
      PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      FAKE_DIR: dir,
      FAKE_SECRET: env.secret,
      FAKE_JOB_CONDITIONS: env.conditions,
      PUSH_ROLLOUT_POLL_S: '0.05',
    },
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (err: { code?: number; stdout?: string }) => ({
      code: err.code ?? -1,
      stdout: err.stdout ?? '',
    }),
  );
  const calls = (await readFile(join(dir, 'calls'), 'utf8').catch(() => ''))
    .trim()
    .split('\n')
    .map((line) => line.replaceAll(`${KUBERNETES_DIR}/`, ''));
  return { ...result, calls };
}

describe('rollout.sh', () => {
  it('applies the configuration, runs the migration to completion, then the Deployments', async () => {
    const { code, calls } = await rollout({ secret: 'present', conditions: 'Complete' });
    expect(code).toBe(0);
    const poll =
      '-n push get job push-migrate -o jsonpath={range .status.conditions[?(@.status=="True")]}{.type} {end}';
    expect(calls).toEqual([
      '-n push apply -f config.yaml',
      '-n push get secret push-secrets',
      '-n push delete job push-migrate --ignore-not-found --wait=true',
      '-n push apply -f migrate-job.yaml',
      poll,
      poll,
      poll,
      '-n push apply -f poller.yaml -f worker.yaml -f http.yaml',
      '-n push rollout status deployment/push-poller --timeout=10m',
      '-n push rollout status deployment/push-worker --timeout=10m',
      '-n push rollout status deployment/push-http --timeout=10m',
    ]);
  });

  it('stops after a failed migration with its log, and leaves the Deployments alone', async () => {
    const { code, stdout, calls } = await rollout({ secret: 'present', conditions: 'Failed' });
    expect(code).not.toBe(0);
    expect(stdout).toMatch(/the migration failed/);
    expect(stdout).toMatch(/1419/);
    expect(calls.filter((call) => /poller\.yaml|rollout status/.test(call))).toEqual([]);
  });

  it('refuses to start without the Secret, before touching the migration', async () => {
    const { code, stdout, calls } = await rollout({ secret: 'missing', conditions: 'Complete' });
    expect(code).not.toBe(0);
    expect(stdout).toMatch(/push-secrets is missing/);
    expect(calls.filter((call) => /job|poller\.yaml/.test(call))).toEqual([]);
  });
});
