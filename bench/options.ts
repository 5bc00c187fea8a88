/**
 * What one `npm run bench` does, from its command line. Defaults are the sizes;
 * `--quick` shrinks every size, duration and repetition for a smoke run (a minute or two).
 *
 *   npm run bench -- [--quick] [--runs N] [--only trigger,drain,latency,idle,peer,split,floor,…]
 *                    [--product-env KEY=VALUE ...] [--label TEXT] [--no-priority]
 *                    [--drain-events N] [--latency-seconds N]
 *                    [--idle-seconds N] [--silence-seconds N] [--silence-trials N]
 */
/**
 * `peer` adds the binlog peer, `split` the two-process push, `floor` the minimal claim → POST
 * loop, to the drain and latency runs (and the floor to the idle part's first pushes);
 * `floor-client` the same loop POSTing through push's own Singer client.
 */
export type Part =
  'trigger' | 'drain' | 'latency' | 'idle' | 'peer' | 'split' | 'floor' | 'floor-client';
const PARTS: readonly Part[] = [
  'trigger',
  'drain',
  'latency',
  'idle',
  'peer',
  'split',
  'floor',
  'floor-client',
];

export const USAGE = `npm run bench -- [options]     (method: docs/BENCHMARKS.md)
  --quick                 smoke sizes, 1 run (not for comparison)
  --runs N                repetitions of every measurement (default 3); figures are medians
  --only PARTS            comma-separated, of: ${PARTS.join(', ')} (default: all)
                          trigger: trigger cost; drain: backlog drain; latency: 500 changes/s;
                          idle: a quiet push start (CPU, queries/s) and first pushes after silence;
                          peer / split / floor: add the binlog peer / push as 2 processes /
                          the floor (claim → POST → DELETE) beside push; floor-client: the
                          floor POSTing through push's own Singer client (axios)
  --drain-events N        backlog of the drain (default 20,000)
  --latency-seconds N     length of the steady load (default 30)
  --idle-seconds N        the quiet window of the idle part (default 60)
  --silence-seconds N     silence before each first-push trial (default 10; the issue's 60)
  --silence-trials N      first-push trials per pipeline (default 20)
  --product-env K=V       environment for the product processes (any knob of src/config.ts)
  --label TEXT            note kept in the JSON
  --no-priority           do not raise the measured processes' priority
  --help                  this text`;

export interface BenchOptions {
  quick: boolean;
  /** Repetitions of every measurement; each figure is their median. */
  runs: number;
  parts: ReadonlySet<Part>;
  /** Backlog for the drain measurement. */
  drainEvents: number;
  /** Steady rate and duration of the latency measurement. */
  latencyRatePerSecond: number;
  latencyDurationS: number;
  /** Length of one trigger-cost measurement (per connection count, trigger state, kind). */
  triggerSeconds: number;
  /** Orders in the trigger-cost table (rows the UPDATEs pick from). */
  triggerOrders: number;
  /** The idle part: quiet window, and the first-push trials (silence before each, how many). */
  idleSeconds: number;
  silenceSeconds: number;
  silenceTrials: number;
  /** Extra environment for the product processes (tuning knobs: POLL_INTERVAL_MS=5 …). */
  productEnv: Record<string, string>;
  /** Note attached to the JSON (what was being tried). */
  label: string | undefined;
  /** Raise the measured processes' priority (see priority.ts). */
  priority: boolean;
}

export function parseOptions(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  let runs = quick ? 1 : 3;
  let parts = new Set<Part>(PARTS);
  const productEnv: Record<string, string> = {};
  let label: string | undefined;
  let priority = true;
  let drainEvents = quick ? 4_000 : 20_000;
  let latencyDurationS = quick ? 8 : 30;
  let idleSeconds = quick ? 10 : 60;
  let silenceSeconds = quick ? 2 : 10;
  let silenceTrials = quick ? 5 : 20;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') continue;
    else if (arg === '--no-priority') priority = false;
    else if (arg === '--runs') runs = positive(arg, value());
    else if (arg === '--label') label = value();
    else if (arg === '--drain-events') drainEvents = positive(arg, value());
    else if (arg === '--latency-seconds') latencyDurationS = positive(arg, value());
    else if (arg === '--idle-seconds') idleSeconds = positive(arg, value());
    else if (arg === '--silence-seconds') silenceSeconds = positive(arg, value());
    else if (arg === '--silence-trials') silenceTrials = positive(arg, value());
    else if (arg === '--only') {
      const wanted = value()
        .split(',')
        .map((p) => p.trim());
      const unknown = wanted.filter((p) => !PARTS.includes(p as Part));
      if (unknown.length > 0)
        throw new Error(`--only: unknown part ${unknown.join(', ')} (parts: ${PARTS.join(', ')})`);
      parts = new Set(wanted as Part[]);
    } else if (arg === '--product-env') {
      const [key, ...rest] = value().split('=');
      if (!key || rest.length === 0) throw new Error('--product-env takes KEY=VALUE');
      productEnv[key] = rest.join('=');
    } else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  return {
    quick,
    runs,
    parts,
    drainEvents,
    latencyRatePerSecond: 500,
    latencyDurationS,
    idleSeconds,
    silenceSeconds,
    silenceTrials,
    triggerSeconds: quick ? 1.5 : 4,
    triggerOrders: quick ? 5_000 : 20_000,
    productEnv,
    label,
    priority,
  };
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${text}`);
  return n;
}
