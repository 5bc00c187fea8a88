// The metric names and label matchers a PromQL expression uses, read crudely but correctly
// enough for push's rules and dashboard: strings, label matchers, ranges and grouping clauses
// are taken out first, then every identifier that is not a function call, a keyword or part
// of a number or a Grafana variable is a metric name. (promtool parses the expressions for
// real in the rules and dashboard tests; it just cannot list what they select.)

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'atan2',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  metric: string;
  matchers: LabelMatcher[];
}

const STRING = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g;
const IDENTIFIER = /(?<![\w:.$])[A-Za-z_:][\w:]*/g;

/** Metric names selected by `expr` (no functions, keywords, labels or durations). */
export function metricNamesIn(expr: string): Set<string> {
  const labelValues = /^\s*label_values\s*\(([\s\S]*),\s*\w+\s*\)\s*$/.exec(expr);
  if (labelValues?.[1] !== undefined) return metricNamesIn(labelValues[1]);
  if (/^\s*label_values\s*\(\s*\w+\s*\)\s*$/.test(expr)) return new Set();

  const bare = expr
    .replace(/#.*$/gm, '') // comments
    .replace(STRING, '""')
    .replace(/\{[^}]*\}/g, '{}') // label matchers
    .replace(/\[[^\]]*\]/g, '[]') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(IDENTIFIER)) {
    const name = match[0];
    const after = bare.slice((match.index ?? 0) + name.length).trimStart();
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return names;
}

/** Each `metric{…}` in `expr` with its label matchers (selectors without braces have none). */
export function selectorsIn(expr: string): Selector[] {
  const selectors: Selector[] = [];
  const withBraces = /(?<![\w:.$])([A-Za-z_:][\w:]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g;
  for (const match of expr.matchAll(withBraces)) {
    const [, metric = '', body = ''] = match;
    const matchers: LabelMatcher[] = [];
    for (const m of body.matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      matchers.push({
        label: m[1] ?? '',
        op: (m[2] ?? '=') as LabelMatcher['op'],
        value: m[3] ?? '',
      });
    }
    selectors.push({ metric, matchers });
  }
  return selectors;
}

/** Grafana's variables replaced by values PromQL accepts, so promtool can parse a panel's query. */
export function grafanaQueryAsPromql(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
    .replace(/\$\{?(\w+)\}?/g, (_, name: string) => (name === 'instance' ? '.*' : name));
}
