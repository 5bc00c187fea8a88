/**
 * Every Redis connection push opens comes from here, so that each one (the poller's queue,
 * the worker and BullMQ's own duplicates of it, the order turns, the dashboard, `push dlq`,
 * `push doctor`, `push trace`, the demo) logs in, uses TLS and follows the topology alike:
 * one node (REDIS_URL), a Redis Cluster (REDIS_CLUSTER_NODES) or a Sentinel group
 * (REDIS_SENTINELS). Settings are read in redis-settings.ts.
 *
 * Purposes: workers block on Redis and must wait out an outage (maxRetriesPerRequest: null,
 * as BullMQ's production guide says). The poller's connection fails fast instead: it holds
 * row locks in MySQL while it enqueues, and an error there rolls the claim back so another
 * attempt can take the rows later. A probe (doctor, trace) tries once, within a deadline.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ServiceUnreachableError } from '../service-unreachable-error.js';
import { explainRedisError } from './redis-errors.js';
import type { RedisSettings } from './redis-settings.js';

export type RedisClient = Redis | Cluster;
export type RedisPurpose = 'blocking' | 'fail-fast' | 'probe';

export interface ConnectOptions {
  /**
   * Sends the commands issued in one turn of the event loop as one write (ioredis's
   * enableAutoPipelining): for the worker's per-push order-turn commands, which 64
   * concurrent deliveries issue at once, not for BullMQ's own connections.
   */
  autoPipelining?: boolean;
  /** For 'probe': how long connecting and each command may take. */
  timeoutMs?: number;
}

/** Reconnect forever, at most every 2 s: the pipeline resumes by itself (SPEC §7). */
const reconnectDelayMs = (times: number) => Math.min(100 * times, 2_000);

export function connectRedis(
  settings: RedisSettings,
  purpose: RedisPurpose,
  { autoPipelining = false, timeoutMs = 5_000 }: ConnectOptions = {},
): RedisClient {
  const node = nodeOptions(settings, purpose, timeoutMs);
  const { topology } = settings;
  let client: RedisClient;
  if (topology.kind === 'cluster') {
    client = new Cluster(topology.nodes, {
      redisOptions: node,
      enableAutoPipelining: autoPipelining,
      // The poller's commands fail at once while no node is reachable, as on one node.
      enableOfflineQueue: purpose === 'blocking',
      lazyConnect: purpose === 'probe',
      clusterRetryStrategy: purpose === 'probe' ? () => null : reconnectDelayMs,
      // During a failover a slot's master is briefly unknown (CLUSTERDOWN, TRYAGAIN) or its
      // connection closes; ioredis refreshes the slots and retries after this long, up to
      // maxRedirections (16) times: ~3 s of failover ridden out before a command fails.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 200,
      slotsRefreshTimeout: 2_000,
      // With TLS, connect to nodes by the names they announce, which their certificates carry.
      ...(node.tls ? { dnsLookup: keepHostname } : {}),
    } satisfies ClusterOptions);
  } else if (topology.kind === 'sentinel') {
    client = new Redis({
      ...node,
      sentinels: topology.sentinels,
      name: topology.masterName,
      sentinelPassword: settings.sentinelPassword,
      // rediss:// means TLS to every Redis endpoint, the sentinels too, with the same CA.
      enableTLSForSentinelMode: node.tls !== undefined,
      sentinelTLS: node.tls,
      sentinelRetryStrategy: purpose === 'probe' ? () => null : reconnectDelayMs,
      // Not ioredis's failoverDetector: its +switch-master arriving while the client is
      // reconnecting (the master just died) cancelled that reconnect for good, and the client
      // ended ("Connection is closed.") with no retry; seen here in the SIGKILL failover test.
      // A failover closes the old master's connections anyway (it died, or Sentinel kills its
      // clients when it demotes it), and each reconnect asks the sentinels again.
      failoverDetector: false,
      enableAutoPipelining: autoPipelining,
    });
  } else {
    const url = new URL(settings.url);
    client = new Redis({
      ...node,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 6379),
      enableAutoPipelining: autoPipelining,
    });
  }
  // Without a listener ioredis prints every failed reconnect, stack trace and all, to stderr.
  // The failures reach the callers anyway, as failed commands they report in context.
  client.on('error', () => {});
  return client;
}

/** What every node connection shares: the login, TLS, and how it retries. */
function nodeOptions(settings: RedisSettings, purpose: RedisPurpose, timeoutMs: number) {
  const url = new URL(settings.url);
  const probe = purpose === 'probe';
  return {
    // WHATWG URLs keep the user and password percent-encoded; Redis wants them as typed.
    username: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    db: settings.topology.kind === 'cluster' ? 0 : Number(url.pathname.slice(1) || 0),
    tls: url.protocol === 'rediss:' ? tlsOptions(settings) : undefined,
    maxRetriesPerRequest: purpose === 'blocking' ? null : probe ? 0 : 1,
    enableOfflineQueue: !probe,
    retryStrategy: probe ? () => null : reconnectDelayMs,
    // A master demoted under an open connection (a failover) answers READONLY to writes:
    // reconnect (through the sentinels, when there are some) and send the command again.
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
    lazyConnect: probe,
    ...(probe ? { connectTimeout: timeoutMs, commandTimeout: timeoutMs } : {}),
  } satisfies RedisOptions;
}

function tlsOptions(settings: RedisSettings): ConnectionOptions {
  return settings.tlsCaFile ? { ca: readFileSync(settings.tlsCaFile) } : {};
}

function keepHostname(
  address: string,
  callback: (err: NodeJS.ErrnoException | null, address: string) => void,
): void {
  callback(null, address);
}

/** The masters that hold push's keys: every master of a cluster, or the one node. */
export function masterNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Resolves once the client is ready and answers PING; otherwise fails with where it
 * tried, what the refusal or failure means and what to do (a wrong password names
 * REDIS_URL, redacted), instead of ioredis' reconnect noise. Any error while it waits ends
 * the wait: a refused login or a closed port does not get better within seconds.
 */
export async function assertRedisReachable(
  client: RedisClient,
  settings: RedisSettings,
  timeoutMs = 5_000,
): Promise<void> {
  let firstError: unknown;
  let onError: (err: unknown) => void = () => {};
  let onReady: () => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onError = (err) => {
      // A cluster reports "Failed to refresh slots cache"; the node's error says why.
      firstError ??= (err as { lastNodeError?: unknown }).lastNodeError ?? err;
      reject(firstError as Error);
    };
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  client.on('error', onError);
  client.on('node error', onError);
  client.once('ready', onReady);
  try {
    if (client.status === 'ready') onReady();
    else if (client.status === 'wait') client.connect().catch(onError);
    await ready;
    await client.ping();
  } catch (err) {
    const cause = firstError ?? err;
    throw new ServiceUnreachableError(explainRedisError(cause, settings), { cause });
  } finally {
    // A pending timer would hold a finished command (`push dlq list`) open for 5 s.
    clearTimeout(timer);
    client.off('error', onError);
    client.off('node error', onError);
    client.off('ready', onReady);
  }
}

/**
 * BullMQ's own start-up commands (INFO for its version check, loading its scripts) may be
 * refused where PING was not, e.g. for an ACL user without INFO: fails as
 * assertRedisReachable does, naming the refusal, instead of leaving every later command to
 * fail.
 */
export async function assertQueuesUsable(
  queues: Array<{ waitUntilReady(): Promise<unknown> }>,
  settings: RedisSettings,
): Promise<void> {
  // Waits for every queue, not only the first to fail. When this throws the caller closes the
  // queues, and BullMQ's RedisConnection, closed while its start-up (INFO) still runs, drops all
  // its listeners; the start-up's failure (the other queue's INFO, refused a moment later, or
  // "Connection is closed") is then emitted as an 'error' to nobody, which crashes the process
  // before this message is shown. Once all have settled, each failure has been emitted already,
  // while the queues still listened (BullMQ's own handler on the start-up runs before ours).
  const started = await Promise.allSettled(queues.map((queue) => queue.waitUntilReady()));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    const err: unknown = failed.reason;
    throw new ServiceUnreachableError(explainRedisError(err, settings), { cause: err });
  }
}

/**
 * For /readyz: a command on one of push's own keys, so that it goes where push's commands
 * go. PING would answer on any node (it has no key), even one that refuses every command
 * push sends with MOVED; this does not. Resolves with nothing, or with why not.
 */
export async function redisServes(
  client: RedisClient,
  settings: RedisSettings,
  key: string,
): Promise<string | undefined> {
  try {
    await client.exists(key);
    return undefined;
  } catch (err) {
    return explainRedisError(err, settings);
  }
}
