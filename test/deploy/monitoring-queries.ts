// Every PromQL query push ships: the expressions of deploy/prometheus/push-rules.yml and the
// panel and variable queries of deploy/grafana/push-dashboard.json, each with where it is.
import { readFile } from 'node:fs/promises';
import { deployPath, readYaml } from './deploy-files.js';

export const RULES_FILE = deployPath('prometheus', 'push-rules.yml');
export const DASHBOARD_FILE = deployPath('grafana', 'push-dashboard.json');

export interface Query {
  /** "rule PushOutboxLag", "panel 3 (Commit → Singer latency) A", "variable job" */
  where: string;
  expr: string;
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
}

export interface GrafanaTarget {
  refId: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}
export interface GrafanaDashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating: {
    list: Array<{
      name: string;
      type: string;
      query?: string | { query: string };
      datasource?: { uid?: string };
    }>;
  };
}

export async function ruleQueries(): Promise<{ queries: Query[]; recorded: Set<string> }> {
  const file = await readYaml<RuleFile>(RULES_FILE);
  const rules = file.groups.flatMap((group) => group.rules);
  return {
    queries: rules.map((rule) => ({
      where: rule.alert ? `alert ${rule.alert}` : `record ${rule.record}`,
      expr: rule.expr,
    })),
    recorded: new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : []))),
  };
}

export async function readDashboard(): Promise<GrafanaDashboard> {
  return JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')) as GrafanaDashboard;
}

/** Panels at any depth (a collapsed row keeps its panels inside it). */
export function allPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  const walk = (panels: GrafanaPanel[]): GrafanaPanel[] =>
    panels.flatMap((panel) => [panel, ...walk(panel.panels ?? [])]);
  return walk(dashboard.panels);
}

export function dashboardQueries(dashboard: GrafanaDashboard): Query[] {
  const panelQueries = allPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `panel ${panel.id} (${panel.title}) ${target.refId}`,
      expr: target.expr ?? '',
    })),
  );
  const variableQueries = dashboard.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => ({
      where: `variable ${variable.name}`,
      expr: typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? ''),
    }));
  return [...panelQueries, ...variableQueries];
}
