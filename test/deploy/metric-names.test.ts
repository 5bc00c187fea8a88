// Every metric the alerting rules and the dashboard query is one push really exports: a real
// `push start` (all three roles) delivers some pushes — one retried after a 503, one refused
// with 400 and dead-lettered, so every outcome and both histograms have samples — and its
// /metrics is scraped. Each name in the rules' and panels' PromQL must be an exported family
// (a histogram's _bucket/_sum/_count count as the histogram), and each label a selector matches
// on must be on that metric's samples, with the value asked for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultScene, until, type FaultScene } from '../faults/fault-fixture.js';
import type { ServiceProcess } from '../support/service-process.js';
import { dashboardQueries, readDashboard, ruleQueries, type Query } from './monitoring-queries.js';
import { metricNamesIn, selectorsIn } from './promql-names.js';

/** Series Prometheus makes itself for every target; push cannot export them. */
const PROMETHEUS_SERIES = new Set(['up']);
/** Labels the scrape adds to every series (prometheus.example.yml), not push's own. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'role']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

interface Scrape {
  /** Family name → type, from the # TYPE lines. */
  families: Map<string, string>;
  /** Sample name → the label sets of its samples. */
  samples: Map<string, Array<Record<string, string>>>;
}

function parseExposition(text: string): Scrape {
  const families = new Map<string, string>();
  const samples = new Map<string, Array<Record<string, string>>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type?.[1] && type[2]) families.set(type[1], type[2]);
    if (line.startsWith('#') || !line.trim()) continue;
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!sample?.[1]) continue;
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1] ?? ''] = m[2] ?? '';
    }
    samples.set(sample[1], [...(samples.get(sample[1]) ?? []), labels]);
  }
  return { families, samples };
}

/** The exported family a queried name belongs to, or undefined. */
function familyOf(name: string, scrape: Scrape): string | undefined {
  if (scrape.families.has(name)) return name;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
  const base = suffix ? name.slice(0, -suffix.length) : undefined;
  const type = base ? scrape.families.get(base) : undefined;
  return type === 'histogram' || type === 'summary' ? base : undefined;
}

/** What is wrong with the metrics `query` uses, against `scrape`; recording rules are skipped. */
function problemsOf(query: Query, scrape: Scrape, recorded: Set<string>): string[] {
  const problems: string[] = [];
  for (const name of metricNamesIn(query.expr)) {
    if (recorded.has(name) || PROMETHEUS_SERIES.has(name)) continue;
    const family = familyOf(name, scrape);
    if (!family) problems.push(`${name} is not exported (${query.where})`);
    else if (family !== name && !scrape.samples.has(name)) {
      problems.push(`${name}: the histogram ${family} has no samples (${query.where})`);
    }
  }
  for (const { metric, matchers } of selectorsIn(query.expr)) {
    const samples = scrape.samples.get(metric);
    if (!samples || samples.length === 0) continue; // not exported (above) or nothing observed
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.has(label)) continue;
      const values = new Set(samples.flatMap((s) => (label in s ? [s[label]] : [])));
      if (values.size === 0) {
        problems.push(`${metric} has no label "${label}" (${query.where})`);
      } else if (op === '=' && !value.includes('$') && !values.has(value)) {
        problems.push(
          `${metric}{${label}="${value}"}: exported values are ${[...values].join(', ')} (${query.where})`,
        );
      }
    }
  }
  return problems;
}

let scene: FaultScene;
let service: ServiceProcess;
let scrape: Scrape;

beforeAll(async () => {
  scene = await createFaultScene('metric-names');
  const orderIds = await scene.createOrders(4);
  await scene.changeOrders(orderIds, 1);
  const keys = (await scene.expectedPushes()).map((push) => push.key);
  const [retried, refused] = keys;
  scene.setRespond((push, attempt) => {
    if (push.idempotencyKey === refused) return { status: 400 };
    if (push.idempotencyKey === retried && attempt === 1) return { status: 503 };
    return { status: 200 };
  });
  service = await scene.startService('metrics', { ROLES: 'poller,worker,http' });
  await service.waitUntilReady();
  const answered = (key: string | undefined, status: number) =>
    scene.singer.requests.some((r) => r.idempotencyKey === key && r.status === status);
  await until(
    () =>
      keys.filter((key) => key !== refused).every((key) => answered(key, 200)) &&
      answered(retried, 503) &&
      answered(refused, 400),
    'Singer has answered every push (one after a 503, one refused)',
  );
  // The worker counts an attempt just after Singer's answer; give the last one a moment.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const response = await fetch(`${service.url}/metrics`);
  expect(response.status, await response.clone().text()).toBe(200);
  scrape = parseExposition(await response.text());
}, 120_000);

afterAll(async () => {
  await scene?.destroy();
});

describe('metric names used by the rules and the dashboard', () => {
  it('the scrape has the product’s families (so an empty scrape cannot pass)', () => {
    expect(scrape.families.get('push_pushes_total')).toBe('counter');
    expect(scrape.samples.get('push_pushes_total')?.length).toBeGreaterThanOrEqual(3);
  });

  it('every name and label the alerting and recording rules use is exported', async () => {
    const { queries, recorded } = await ruleQueries();
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.flatMap((query) => problemsOf(query, scrape, recorded))).toEqual([]);
  });

  it('every name and label the dashboard uses is exported', async () => {
    const queries = dashboardQueries(await readDashboard());
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.flatMap((query) => problemsOf(query, scrape, new Set()))).toEqual([]);
  });

  it('the check finds a misspelt name, a missing label and a wrong label value (so it can fail)', () => {
    const query = (expr: string): Query => ({ where: 'test', expr });
    expect(problemsOf(query('rate(push_pushes_totl[5m])'), scrape, new Set())).toHaveLength(1);
    expect(
      problemsOf(query('push_pushes_total{outcom="delivered"}'), scrape, new Set()),
    ).toHaveLength(1);
    expect(
      problemsOf(query('push_pushes_total{outcome="deliverd"}'), scrape, new Set()),
    ).toHaveLength(1);
    expect(problemsOf(query('push_pushes_total_bucket'), scrape, new Set())).toHaveLength(1);
    expect(
      problemsOf(
        query('sum by (outcome) (rate(push_pushes_total{outcome="delivered"}[5m]))'),
        scrape,
        new Set(),
      ),
    ).toEqual([]);
  });
});
