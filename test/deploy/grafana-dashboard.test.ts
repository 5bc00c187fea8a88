// deploy/grafana/push-dashboard.json: a dashboard Grafana imports (unique panel ids, a
// Prometheus datasource variable every query uses, panels on the 24-column grid without
// overlaps), whose every query is PromQL that Prometheus parses (promtool checks them as
// recording rules), and that shows what an operator of push needs.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { promtool } from './deploy-files.js';
import { allPanels, dashboardQueries, readDashboard } from './monitoring-queries.js';
import { grafanaQueryAsPromql, metricNamesIn } from './promql-names.js';

describe('Grafana dashboard', () => {
  it('has a uid, a title, a Prometheus datasource variable, and every query uses it', async () => {
    const dashboard = await readDashboard();
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const datasource = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(datasource).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const panel of allPanels(dashboard).filter((p) => p.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
  });

  it('has unique panel ids and lays the panels out on the grid without overlaps', async () => {
    const panels = allPanels(await readDashboard());
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const overlaps: string[] = [];
    panels.forEach((a, i) => {
      expect(a.gridPos.x + a.gridPos.w, a.title).toBeLessThanOrEqual(24);
      for (const b of panels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        if (!apart) overlaps.push(`${a.title} / ${b.title}`);
      }
    });
    expect(overlaps).toEqual([]);
  });

  it('every query is PromQL Prometheus parses', async () => {
    const queries = dashboardQueries(await readDashboard());
    // label_values(<selector>, label) is Grafana's; the selector inside it is PromQL.
    const rules = queries.map((query, i) => ({
      record: `dashboard:query_${i}`,
      expr: grafanaQueryAsPromql(
        query.expr.replace(/^\s*label_values\s*\(([\s\S]*),\s*\w+\s*\)\s*$/, '$1'),
      ),
    }));
    const dir = await mkdtemp(join(tmpdir(), 'push-dashboard-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const result = await promtool(['check', 'rules', file]);
      expect(result.ok, `${result.stdout}${result.stderr}\n${JSON.stringify(rules, null, 2)}`).toBe(
        true,
      );
      expect(result.stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shows throughput, latency, outbox, queues, dead letters, Singer, back-pressure, reconciliation and the processes', async () => {
    const used = new Set(
      dashboardQueries(await readDashboard()).flatMap((q) => [...metricNamesIn(q.expr)]),
    );
    const wanted = [
      'push_pushes_total',
      'push_events_claimed_total',
      'push_delivery_latency_seconds_bucket',
      'push_outbox_lag_seconds',
      'push_outbox_backlog',
      'push_queue_jobs',
      'push_queue_oldest_waiting_age_seconds',
      'push_dead_letters',
      'push_pushes_owed',
      'push_singer_request_duration_seconds_bucket',
      'push_backpressure_active',
      'push_reconciled_pushes_total',
      'push_up',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ];
    expect(wanted.filter((name) => !used.has(name))).toEqual([]);
  });
});
