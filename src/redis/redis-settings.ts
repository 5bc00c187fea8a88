/**
 * Where push's Redis is and how to log in to it, read once from the environment by config.ts:
 *
 * - `REDIS_URL` — `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Its user,
 *   password and scheme apply to every node push talks to, whatever the topology.
 * - `REDIS_TLS_CA` — a PEM bundle to check the servers' certificates against (a private CA);
 *   without it, Node's built-in public CAs.
 * - `REDIS_CLUSTER_NODES=host:port,…` — seed nodes of a Redis Cluster (REDIS_URL's host is
 *   then not used).
 * - `REDIS_SENTINELS=host:port,…` with `REDIS_SENTINEL_NAME` — Sentinels to ask for the
 *   master, and `REDIS_SENTINEL_PASSWORD` when the sentinels themselves require one.
 *
 * The one place that turns those into ioredis options is redis-connection.ts.
 */
import { readFileSync } from 'node:fs';
import { redactUrl } from '../redact-url.js';

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTopology =
  | { kind: 'single' }
  | { kind: 'cluster'; nodes: HostPort[] }
  | { kind: 'sentinel'; sentinels: HostPort[]; masterName: string };

export interface RedisSettings {
  /** REDIS_URL as given; show it only through describeRedis() or redactUrl(). */
  url: string;
  topology: RedisTopology;
  /** REDIS_TLS_CA: a PEM file, only with rediss://. */
  tlsCaFile: string | undefined;
  /** REDIS_SENTINEL_PASSWORD: the sentinels' own `requirepass`, when they have one. */
  sentinelPassword: string | undefined;
}

/** The raw variables, as config.ts validated them one by one. */
export interface RedisVariables {
  REDIS_URL: string;
  REDIS_TLS_CA?: string | undefined;
  REDIS_CLUSTER_NODES?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
}

/** Settings for a plain REDIS_URL (tests, benches): one node, no TLS CA. */
export function singleNodeRedis(url: string): RedisSettings {
  return { url, topology: { kind: 'single' }, tlsCaFile: undefined, sentinelPassword: undefined };
}

/**
 * The settings, or the problems with them as `NAME: what is wrong` lines (each names its
 * variable, never a password). Checks what single variables cannot: combinations.
 */
export function parseRedisSettings(vars: RedisVariables): {
  settings: RedisSettings | undefined;
  problems: string[];
} {
  const problems: string[] = [];
  const url = new URL(vars.REDIS_URL);
  const tls = url.protocol === 'rediss:';

  if (vars.REDIS_TLS_CA !== undefined) {
    if (!tls) {
      problems.push('REDIS_TLS_CA: only applies to TLS; REDIS_URL must start with rediss://');
    } else {
      try {
        if (!readFileSync(vars.REDIS_TLS_CA, 'utf8').includes('-----BEGIN CERTIFICATE-----')) {
          problems.push(`REDIS_TLS_CA (got "${vars.REDIS_TLS_CA}"): holds no PEM certificate`);
        }
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err);
        problems.push(`REDIS_TLS_CA (got "${vars.REDIS_TLS_CA}"): cannot be read (${code})`);
      }
    }
  }

  const cluster = vars.REDIS_CLUSTER_NODES;
  const sentinels = vars.REDIS_SENTINELS;
  let topology: RedisTopology = { kind: 'single' };
  if (cluster !== undefined && sentinels !== undefined) {
    problems.push(
      'REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one of them (a Redis Cluster or a Sentinel group), not both',
    );
  } else if (cluster !== undefined) {
    const nodes = parseHostPorts('REDIS_CLUSTER_NODES', cluster, problems);
    // A cluster has database 0 only; SELECT fails on every node.
    if (url.pathname.length > 1 && url.pathname !== '/0') {
      problems.push(
        `REDIS_URL: a Redis Cluster has database 0 only; drop "${url.pathname}" from the URL`,
      );
    }
    topology = { kind: 'cluster', nodes };
  } else if (sentinels !== undefined) {
    const addresses = parseHostPorts('REDIS_SENTINELS', sentinels, problems);
    if (vars.REDIS_SENTINEL_NAME === undefined) {
      problems.push(
        'REDIS_SENTINEL_NAME: must be set with REDIS_SENTINELS (the master group name)',
      );
    }
    topology = {
      kind: 'sentinel',
      sentinels: addresses,
      masterName: vars.REDIS_SENTINEL_NAME ?? '',
    };
  }
  if (sentinels === undefined && vars.REDIS_SENTINEL_NAME !== undefined) {
    problems.push('REDIS_SENTINEL_NAME: only applies with REDIS_SENTINELS');
  }
  if (sentinels === undefined && vars.REDIS_SENTINEL_PASSWORD !== undefined) {
    problems.push('REDIS_SENTINEL_PASSWORD: only applies with REDIS_SENTINELS');
  }
  if (!/^\/\d*$/.test(url.pathname || '/')) {
    problems.push('REDIS_URL: the path must be a database number, as in redis://host:6379/0');
  }

  if (problems.length > 0) return { settings: undefined, problems };
  return {
    settings: {
      url: vars.REDIS_URL,
      topology,
      tlsCaFile: vars.REDIS_TLS_CA,
      sentinelPassword: vars.REDIS_SENTINEL_PASSWORD,
    },
    problems: [],
  };
}

/** `host:port,host:port` (IPv6 as `[::1]:6379`), each port 1–65535. */
function parseHostPorts(name: string, value: string, problems: string[]): HostPort[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) problems.push(`${name}: must list at least one host:port`);
  const parsed: HostPort[] = [];
  for (const item of items) {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(item);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65_535) {
      problems.push(`${name} (got "${value}"): "${item}" is not host:port`);
      continue;
    }
    parsed.push({ host: match[1] ?? match[2] ?? '', port });
  }
  return parsed;
}

/**
 * The key's hash tag: what Redis Cluster hashes instead of the whole key (the text inside
 * the first `{…}`, when not empty), or undefined when it has none. Keys with the same tag
 * live in the same slot, so one script may touch them all.
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** For logs and error messages: where push's Redis is, the password masked. */
export function describeRedis(settings: RedisSettings): string {
  const { topology } = settings;
  const url = redactUrl(settings.url);
  const list = (nodes: HostPort[]) => nodes.map(formatHostPort).join(',');
  switch (topology.kind) {
    case 'single':
      return `REDIS_URL=${url}`;
    case 'cluster':
      return `Redis Cluster REDIS_CLUSTER_NODES=${list(topology.nodes)} (credentials and TLS of REDIS_URL=${url})`;
    case 'sentinel':
      return (
        `master "${topology.masterName}" of REDIS_SENTINELS=${list(topology.sentinels)} ` +
        `(credentials and TLS of REDIS_URL=${url})`
      );
  }
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
