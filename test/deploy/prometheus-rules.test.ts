// deploy/prometheus/: the rules parse and lint clean (`promtool check rules`), the example
// Prometheus config loads them (`promtool check config`), their unit tests pass (`promtool test
// rules`: each alert fires on the series it is about and stays quiet on the look-alikes), and
// every alert is actionable: a severity, a summary, a description and a runbook_url whose anchor
// is a section of docs/RUNBOOKS.md.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';
import { deployPath, promtool, readYaml } from './deploy-files.js';
import { githubAnchors } from './markdown-anchors.js';

const RULES = deployPath('prometheus', 'push-rules.yml');
const TESTS_DIR = deployPath('prometheus', 'tests');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface RuleTestFile {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

async function alertRules(): Promise<Rule[]> {
  const file = await readYaml<RuleFile>(RULES);
  return file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert);
}

async function ruleTestFiles(): Promise<string[]> {
  return (await readdir(TESTS_DIR)).filter((name) => name.endsWith('.test.yml')).sort();
}

describe('Prometheus rules', () => {
  it('pass `promtool check rules`, and the example config that loads them passes `check config`', async () => {
    // --lint-fatal: without it a lint error (a duplicate rule) is printed but exits 0.
    const rules = await promtool(['check', 'rules', '--lint-fatal', RULES]);
    expect(rules.stdout + rules.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(rules.ok, rules.stdout + rules.stderr).toBe(true);

    const config = await promtool(
      ['check', 'config', '--lint-fatal', 'prometheus.example.yml'],
      deployPath('prometheus'),
    );
    expect(config.ok, config.stdout + config.stderr).toBe(true);
  });

  it('the check fails on a broken expression and on a duplicate rule (so it can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'push-rules-'));
    try {
      const broken = join(dir, 'broken.yml');
      await writeFile(
        broken,
        'groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m]) > 1\n',
      );
      const result = await promtool(['check', 'rules', '--lint-fatal', broken]);
      expect(result.ok).toBe(false);
      expect(result.stdout + result.stderr).toMatch(/unclosed left parenthesis|parse error/);

      const duplicate = join(dir, 'duplicate.yml');
      await writeFile(
        duplicate,
        'groups:\n  - name: x\n    rules:\n' +
          '      - { alert: A, expr: up == 0, labels: { severity: warning } }\n' +
          '      - { alert: A, expr: up == 2, labels: { severity: warning } }\n',
      );
      const duplicates = await promtool(['check', 'rules', '--lint-fatal', duplicate]);
      expect(duplicates.ok).toBe(false);
      expect(duplicates.stdout + duplicates.stderr).toMatch(/duplicate rule/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pass their unit tests (`promtool test rules deploy/prometheus/tests/*.test.yml`)', async () => {
    const files = await ruleTestFiles();
    expect(files.length).toBeGreaterThan(0);
    const result = await promtool(['test', 'rules', ...files], TESTS_DIR);
    expect(result.ok, result.stdout + result.stderr).toBe(true);
    expect(result.stdout.match(/SUCCESS/g)?.length).toBe(files.length);
  });

  it('a unit test fails when an alert does not behave as it expects (so the tests can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'push-rules-'));
    try {
      const rules = (await readFile(RULES, 'utf8')).replace(
        'expr: push_up == 0',
        'expr: push_up == 1',
      );
      await writeFile(join(dir, 'push-rules.yml'), rules);
      const testFile = (await readFile(join(TESTS_DIR, 'readiness.test.yml'), 'utf8')).replace(
        '../push-rules.yml',
        'push-rules.yml',
      );
      await writeFile(join(dir, 'readiness.test.yml'), testFile);
      const result = await promtool(['test', 'rules', 'readiness.test.yml'], dir);
      expect(result.ok).toBe(false);
      expect(result.stdout + result.stderr).toMatch(/PushDependencyUnreachable/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('every alert has a unit test in which it fires', async () => {
    const fired = new Set<string>();
    for (const name of await ruleTestFiles()) {
      const file = await readYaml<RuleTestFile>(join(TESTS_DIR, name));
      for (const test of file.tests) {
        for (const check of test.alert_rule_test ?? []) {
          if (check.exp_alerts.length > 0) fired.add(check.alertname);
        }
      }
    }
    const untested = (await alertRules()).map((rule) => rule.alert).filter((a) => !fired.has(a!));
    expect(untested).toEqual([]);
  });

  it('every alert has a severity, a summary, a description and a runbook section in docs/RUNBOOKS.md', async () => {
    const anchors = githubAnchors(await readFile(join(packageRoot, 'docs', 'RUNBOOKS.md'), 'utf8'));
    const problems: string[] = [];
    for (const rule of await alertRules()) {
      const name = rule.alert ?? '?';
      if (!['warning', 'critical'].includes(rule.labels?.severity ?? '')) {
        problems.push(`${name}: severity must be warning or critical`);
      }
      if (!rule.annotations?.summary) problems.push(`${name}: no summary`);
      if (!rule.annotations?.description) problems.push(`${name}: no description`);
      const url = rule.annotations?.runbook_url ?? '';
      const anchor = /^docs\/RUNBOOKS\.md#([\w-]+)$/.exec(url)?.[1];
      if (!anchor) problems.push(`${name}: runbook_url "${url}" is not docs/RUNBOOKS.md#<anchor>`);
      else if (!anchors.has(anchor)) problems.push(`${name}: docs/RUNBOOKS.md has no #${anchor}`);
      else if (anchor !== name.toLowerCase()) {
        problems.push(`${name}: runbook_url points at #${anchor}, not at the alert's own section`);
      }
    }
    expect(problems).toEqual([]);
  });
});
