/**
 * The only reader of process.env. Every setting is read once, validated and frozen; a bad
 * value fails at start with the variable's name, never later with a stack trace.
 */
import { z } from 'zod';
import { PlainError } from './plain-error.js';
import { databaseUrlProblems } from './db/database-url.js';
import { DEFAULT_ORDER_COLUMNS, type MigrationContext } from './db/migration-context.js';
import { DEFAULT_LOCK_WAIT } from './db/schema-session.js';
import { redactUrl } from './redact-url.js';
import { hashTagOf, parseRedisSettings, type RedisSettings } from './redis/redis-settings.js';

export { redactUrl };

type OrderColumns = MigrationContext['orderColumns'];

const ROLES = ['poller', 'worker', 'http'] as const;
/** Where the crash tests make the process kill or freeze itself (PUSH_CRASH_AT). */
export const CRASH_POINTS = ['claimed', 'held', 'enqueued', 'delivered', 'handed-over'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];
/** SIGKILL ends the process; SIGSTOP freezes it with its connections open, like a dead host. */
export const CRASH_SIGNALS = ['SIGKILL', 'SIGSTOP'] as const;
export type CrashSignal = (typeof CRASH_SIGNALS)[number];
export type Role = (typeof ROLES)[number];

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();

const urlWithScheme = (schemes: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
  );

const sqlIdentifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]{0,63}$/, 'must be a plain SQL identifier (letters, digits, _)');

const schema = z.object({
  DATABASE_URL: urlWithScheme(['mysql:'])
    .superRefine((value, ctx) => {
      for (const message of databaseUrlProblems(value)) ctx.addIssue({ code: 'custom', message });
    })
    .default('mysql://root@127.0.0.1:3306/push'),
  REDIS_URL: urlWithScheme(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_TLS_CA: z.string().optional(),
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_SENTINELS: z.string().optional(),
  REDIS_SENTINEL_NAME: z.string().optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  SINGER_URL: urlWithScheme(['http:', 'https:']).default('http://127.0.0.1:8090'),
  SINGER_TOKEN: z.string().optional(),
  SINGER_TIMEOUT_MS: positiveInt.default(5_000),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'may hold letters, digits, _ . - and a {hash tag}')
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  ORDER_DETAIL_URL: z.string().min(1).default('https://m.example.com/orders/{{orderId}}'),
  DASHBOARD_USER: z.string().optional(),
  DASHBOARD_PASSWORD: z.string().optional(),
  ROLES: z
    .string()
    .default('poller,worker,http')
    .transform((v) =>
      v
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(ROLES)).min(1, 'must name at least one of poller, worker, http')),
  // 5 ms: commit→Singer p50 ≈ 11 ms at 500 events/s on 2 cores, 6 ms less than 10 ms for
  // ≈ 3% more CPU per event; an idle poll costs one read. docs/BENCHMARKS.md, steps 3 and 6.
  POLL_INTERVAL_MS: positiveInt.default(5),
  // The quiet poller's sleep, reached by doubling after POLL_INTERVAL_MS: 9 reads a second
  // against the order service's database while nothing happens (with reconciliation's, under
  // issue 14's 10), and the first change after a silence reaches Singer within about this
  // long plus a claim: 85 ms median, 109 ms worst measured (docs/BENCHMARKS.md, issue 14).
  POLL_IDLE_INTERVAL_MS: positiveInt.max(10_000).default(110),
  POLL_BATCH_SIZE: positiveInt.max(10_000).default(500),
  POLL_ERROR_BACKOFF_MAX_MS: positiveInt.default(30_000),
  // A poller that goes silent holding a claim (its host died, froze or was cut off) keeps
  // those rows locked until MySQL drops its session: MySQL's wait_timeout, 8 hours by
  // default. The poller sets its own session's timeout to this, so the rows are rolled
  // back and claimed by the other pollers within a minute.
  CLAIM_TIMEOUT_S: positiveInt.max(86_400).default(60),
  // The longest push waits for MySQL's answer to one statement (the poller's and the knex
  // pool's); then it drops the session and connects again. A black-holed path (no RST, no
  // FIN) would otherwise hold a query for ~15 minutes of TCP retransmits. push's statements
  // take milliseconds (a whole commit → Singer trip is ≤ 36 ms at p99 at 500 events/s on a
  // quiet machine, ≤ 425 ms on a loaded one: docs/BENCHMARKS.md), so 10 s mistakes no slow
  // moment for a dead path, and notices a dead one well within a minute. At least 100 ms,
  // so that a value meant in seconds (10, 30) is refused. Independent of CLAIM_TIMEOUT_S:
  // that is how long MySQL waits for a silent poller, this how long push waits for a silent
  // MySQL.
  DB_QUERY_TIMEOUT_MS: positiveInt.min(100).max(3_600_000).default(10_000),
  // Back-pressure (outbox/back-pressure.ts): no hand-off while this many pushes wait in
  // BullMQ, so a Singer outage or stopped workers leave the backlog in MySQL. Measured: a
  // fresh push takes ≈ 1.4 KB of Redis, one waiting out retries ≈ 3 KB, so 10,000 is
  // ≈ 14–30 MB. The workers need only what they drain while a held poller waits 100 ms
  // to count again (≤ 300 at 3k pushes/s); 20,000-event drains at 1,000 and 10,000 were
  // as fast as without a limit, at 300 slower. docs/BENCHMARKS.md, "Back-pressure".
  MAX_QUEUED_PUSHES: positiveInt.default(10_000),
  WORKER_CONCURRENCY: positiveInt.max(1_000).default(64),
  DELIVERY_ATTEMPTS: positiveInt.max(100).default(15),
  DELIVERY_BACKOFF_BASE_MS: positiveInt.default(1_000),
  DELIVERY_BACKOFF_MAX_MS: positiveInt.default(30 * 60_000),
  ORDER_WAIT_MS: positiveInt.default(250),
  WORKER_LOCK_MS: positiveInt.min(1_000).default(30_000),
  COMPLETED_JOB_RETENTION_S: positiveInt.default(24 * 3600),
  FAILED_JOB_RETENTION_S: positiveInt.default(14 * 24 * 3600),
  SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  OUTBOX_RETENTION_HOURS: nonNegativeInt.default(7 * 24),
  // Reconciliation (src/reconcile/reconcile-loop.ts). A push lost by Redis reaches Singer
  // about RECONCILE_AFTER_S + RECONCILE_INTERVAL_S later. No healthy push stays owed for a
  // minute unless its job is retrying or queued, and those are checked and left alone; an
  // idle cycle is one read of an empty index range, a page of 500 live jobs a few round
  // trips (README, "Configuration").
  RECONCILE_AFTER_S: positiveInt.max(86_400).default(60),
  RECONCILE_INTERVAL_S: positiveInt.max(3_600).default(10),
  RECONCILE_BATCH_SIZE: positiveInt.max(10_000).default(500),
  ORDERS_TABLE: sqlIdentifier.default('orders'),
  NURSES_TABLE: sqlIdentifier.default('nurses'),
  ORDER_COLUMNS: z
    .string()
    .default('')
    .transform((v, ctx) => parseColumnMap(v, ctx)),
  // Each schema change of `push migrate` waits this long for its metadata lock (order writes
  // queue behind it meanwhile), this many times, then fails naming the holder.
  MIGRATION_LOCK_WAIT_S: positiveInt.max(3_600).default(DEFAULT_LOCK_WAIT.lockWaitS),
  MIGRATION_LOCK_ATTEMPTS: positiveInt.max(100).default(DEFAULT_LOCK_WAIT.lockAttempts),
  SCENARIOS_FILE: z.string().optional(),
  // Fault injection for the crash tests: the process sends itself PUSH_CRASH_SIGNAL (SIGKILL,
  // or SIGSTOP to freeze like a dead host) at this point.
  PUSH_CRASH_AT: z.enum(CRASH_POINTS).optional(),
  PUSH_CRASH_SIGNAL: z.enum(CRASH_SIGNALS).default('SIGKILL'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Every environment variable push reads: deployment files may set these and no others. */
export const SETTING_NAMES: ReadonlySet<string> = new Set(Object.keys(schema.shape));

/**
 * ORDER_COLUMNS renames the orders columns push reads, for an order service whose names
 * differ from SPEC §2: `status=state,status_reason=state_reason`.
 */
function parseColumnMap(value: string, ctx: z.RefinementCtx): OrderColumns {
  const byColumn: Record<string, keyof OrderColumns> = {
    id: 'id',
    patient_id: 'patientId',
    nurse_id: 'nurseId',
    status: 'status',
    status_reason: 'statusReason',
  };
  const columns = { ...DEFAULT_ORDER_COLUMNS };
  for (const pair of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [from, to] = pair.split('=').map((p) => p.trim());
    const key = from ? byColumn[from] : undefined;
    if (!key || !to || !/^[A-Za-z_][A-Za-z0-9_$]{0,63}$/.test(to)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${pair}" is not <column>=<name> with column one of ${Object.keys(byColumn).join(', ')}`,
      });
      return columns;
    }
    columns[key] = to;
  }
  return columns;
}

export type Config = Readonly<{
  databaseUrl: string;
  /** Where Redis is and how to log in: src/redis/redis-connection.ts turns it into clients. */
  redis: RedisSettings;
  singerUrl: string;
  singerToken: string | undefined;
  singerTimeoutMs: number;
  queuePrefix: string;
  port: number;
  host: string;
  orderDetailUrl: string;
  dashboard: { user: string; password: string } | undefined;
  roles: ReadonlySet<Role>;
  pollIntervalMs: number;
  idlePollIntervalMs: number;
  pollBatchSize: number;
  pollErrorBackoffMaxMs: number;
  claimTimeoutS: number;
  dbQueryTimeoutMs: number;
  maxQueuedPushes: number;
  workerConcurrency: number;
  deliveryAttempts: number;
  deliveryBackoffBaseMs: number;
  deliveryBackoffMaxMs: number;
  orderWaitMs: number;
  workerLockMs: number;
  completedJobRetentionS: number;
  failedJobRetentionS: number;
  shutdownGraceMs: number;
  outboxRetentionHours: number;
  reconcileAfterS: number;
  reconcileIntervalS: number;
  reconcileBatchSize: number;
  ordersTable: string;
  nursesTable: string;
  orderColumns: OrderColumns;
  migrationLockWaitS: number;
  migrationLockAttempts: number;
  scenariosFile: string | undefined;
  logLevel: string;
  crashAt: CrashPoint | undefined;
  crashSignal: CrashSignal;
}>;

/** A configuration problem a person must fix; the CLI prints its message without a stack. */
export class ConfigError extends PlainError {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most twelve-factor services.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const value = env[name];
      // A URL may carry a password (mysql://user:pass@…): show it redacted, never verbatim,
      // and not at all when it does not parse (the password could not be found to mask).
      const isUrl = /_URL$/.test(name) && value !== undefined;
      const safe = isUrl ? (URL.canParse(value) ? redactUrl(value) : undefined) : value;
      const shown = safe === undefined || /PASSWORD|TOKEN/.test(name) ? '' : ` (got "${safe}")`;
      return `  ${name}${shown}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const redis = redisSettingsOf(e);
  if (Boolean(e.DASHBOARD_USER) !== Boolean(e.DASHBOARD_PASSWORD)) {
    throw new ConfigError(
      'invalid configuration:\n  DASHBOARD_USER and DASHBOARD_PASSWORD must be set together',
    );
  }
  // The claim session idles between polls and between retries after an error; a timeout
  // shorter than those gaps would have MySQL drop a healthy poller's session.
  const longestIdleMs = Math.max(
    e.POLL_INTERVAL_MS,
    e.POLL_IDLE_INTERVAL_MS,
    e.POLL_ERROR_BACKOFF_MAX_MS,
  );
  if (e.CLAIM_TIMEOUT_S * 1000 < 2 * longestIdleMs) {
    throw new ConfigError(
      `invalid configuration:\n  CLAIM_TIMEOUT_S (got "${e.CLAIM_TIMEOUT_S}"): must be at least twice ` +
        `POLL_INTERVAL_MS, POLL_IDLE_INTERVAL_MS and POLL_ERROR_BACKOFF_MAX_MS (${longestIdleMs} ms), the longest a ` +
        `healthy poller's session stays quiet`,
    );
  }
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    redis: Object.freeze(redis.settings),
    singerUrl: e.SINGER_URL,
    singerToken: e.SINGER_TOKEN,
    singerTimeoutMs: e.SINGER_TIMEOUT_MS,
    queuePrefix: redis.queuePrefix,
    port: e.PORT,
    host: e.HOST,
    orderDetailUrl: e.ORDER_DETAIL_URL,
    dashboard:
      e.DASHBOARD_USER && e.DASHBOARD_PASSWORD
        ? { user: e.DASHBOARD_USER, password: e.DASHBOARD_PASSWORD }
        : undefined,
    roles: new Set(e.ROLES),
    pollIntervalMs: e.POLL_INTERVAL_MS,
    idlePollIntervalMs: Math.max(e.POLL_IDLE_INTERVAL_MS, e.POLL_INTERVAL_MS),
    pollBatchSize: e.POLL_BATCH_SIZE,
    pollErrorBackoffMaxMs: e.POLL_ERROR_BACKOFF_MAX_MS,
    claimTimeoutS: e.CLAIM_TIMEOUT_S,
    dbQueryTimeoutMs: e.DB_QUERY_TIMEOUT_MS,
    maxQueuedPushes: e.MAX_QUEUED_PUSHES,
    workerConcurrency: e.WORKER_CONCURRENCY,
    deliveryAttempts: e.DELIVERY_ATTEMPTS,
    deliveryBackoffBaseMs: e.DELIVERY_BACKOFF_BASE_MS,
    deliveryBackoffMaxMs: e.DELIVERY_BACKOFF_MAX_MS,
    orderWaitMs: e.ORDER_WAIT_MS,
    workerLockMs: e.WORKER_LOCK_MS,
    completedJobRetentionS: e.COMPLETED_JOB_RETENTION_S,
    failedJobRetentionS: e.FAILED_JOB_RETENTION_S,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    outboxRetentionHours: e.OUTBOX_RETENTION_HOURS,
    reconcileAfterS: e.RECONCILE_AFTER_S,
    reconcileIntervalS: e.RECONCILE_INTERVAL_S,
    reconcileBatchSize: e.RECONCILE_BATCH_SIZE,
    ordersTable: e.ORDERS_TABLE,
    nursesTable: e.NURSES_TABLE,
    orderColumns: Object.freeze(e.ORDER_COLUMNS),
    migrationLockWaitS: e.MIGRATION_LOCK_WAIT_S,
    migrationLockAttempts: e.MIGRATION_LOCK_ATTEMPTS,
    scenariosFile: e.SCENARIOS_FILE,
    logLevel: e.LOG_LEVEL,
    crashAt: e.PUSH_CRASH_AT,
    crashSignal: e.PUSH_CRASH_SIGNAL,
  });
}

/**
 * BullMQ's scripts touch many keys of a queue at once, and Redis Cluster runs a script only
 * when all its keys live in one slot: on a cluster every key of push must share one hash tag.
 * Unset, QUEUE_PREFIX is `{push}` there; a prefix without a tag is refused rather than
 * rewritten, so the keys an operator finds in Redis are the ones they configured.
 */
function redisSettingsOf(e: z.infer<typeof schema>): {
  settings: RedisSettings;
  queuePrefix: string;
} {
  const { settings, problems } = parseRedisSettings(e);
  const cluster = settings?.topology.kind === 'cluster';
  const queuePrefix = e.QUEUE_PREFIX ?? (cluster ? '{push}' : 'push');
  if (cluster && hashTagOf(queuePrefix) === undefined) {
    problems.push(
      `QUEUE_PREFIX (got "${queuePrefix}"): on a Redis Cluster (REDIS_CLUSTER_NODES) it must carry ` +
        `a hash tag so that every key of push lands in one slot, for example "{${queuePrefix}}"`,
    );
  }
  if (!settings || problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
  return { settings, queuePrefix };
}
