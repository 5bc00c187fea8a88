// The crude PromQL reader of promql-names.ts on the shapes push's rules and dashboard use, and on
// the ones that would fool a plainer regex.
import { describe, expect, it } from 'vitest';
import { grafanaQueryAsPromql, metricNamesIn, selectorsIn } from './promql-names.js';

const names = (expr: string) => [...metricNamesIn(expr)].sort();

describe('metricNamesIn', () => {
  it('finds the metric inside functions and aggregations, not the functions', () => {
    expect(names('sum by (job, le) (rate(push_delivery_latency_seconds_bucket[5m]))')).toEqual([
      'push_delivery_latency_seconds_bucket',
    ]);
    expect(names('histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))')).toEqual([
      'x_bucket',
    ]);
  });

  it('skips label names, label values, keywords, durations and numbers', () => {
    expect(
      names(
        'a{outcome!="delivered", queue=~"dead-letters|x"} / on (job) group_left (version) b ' +
          'and c offset 5m > bool 1e3 unless d[10m:1m] or inf',
      ),
    ).toEqual(['a', 'b', 'c', 'd']);
  });

  it('does not read a brace or a name inside a string as a selector', () => {
    expect(names('label_replace(up{job="push"}, "x", "$1 {oops}", "instance", "(.*)")')).toEqual([
      'up',
    ]);
  });

  it('reads recording-rule names (with colons) as metrics', () => {
    expect(names('job:push_outbox_lag_seconds:max > 10')).toEqual([
      'job:push_outbox_lag_seconds:max',
    ]);
  });

  it('reads Grafana queries: variables are not metrics, label_values names its metric', () => {
    expect(names('max(push_up{job="$job", instance=~"$instance"}) [$__rate_interval]')).toEqual([
      'push_up',
    ]);
    expect(names('label_values(push_build_info{job="$job"}, instance)')).toEqual([
      'push_build_info',
    ]);
    expect(names('label_values(job)')).toEqual([]);
  });

  it('ignores comments', () => {
    expect(names('# not_a_metric\nfoo > 1')).toEqual(['foo']);
  });
});

describe('selectorsIn', () => {
  it('returns each selector with its matchers', () => {
    expect(selectorsIn('rate(a{x="1", y!~"b|c"}[5m]) / b{z="}"}')).toEqual([
      {
        metric: 'a',
        matchers: [
          { label: 'x', op: '=', value: '1' },
          { label: 'y', op: '!~', value: 'b|c' },
        ],
      },
      { metric: 'b', matchers: [{ label: 'z', op: '=', value: '}' }] },
    ]);
  });
});

describe('grafanaQueryAsPromql', () => {
  it('turns Grafana variables into values promtool accepts', () => {
    expect(
      grafanaQueryAsPromql('rate(a{job="$job", instance=~"$instance"}[$__rate_interval])'),
    ).toBe('rate(a{job="job", instance=~".*"}[5m])');
  });
});
