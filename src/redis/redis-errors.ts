/**
 * What a Redis error means for the person running push: the refusal or failure in a few
 * words and what to change, for start-up failures, /readyz and the worker's log. Built from
 * the error's code and message only: ioredis hangs the failed command on its errors
 * (for AUTH, the password), and that never goes into a sentence.
 */
import { describeRedis, type RedisSettings } from './redis-settings.js';

/** Node's certificate-check codes (tls.connect), and the hostname mismatch. */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The reply's first word (WRONGPASS, MOVED, …) or the socket error's code, when known. */
export function redisErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string') return e.code;
  const word = /^([A-Z]{4,})\b/.exec(typeof e?.message === 'string' ? e.message : '');
  return word?.[1];
}

/**
 * One sentence: where, what the refusal or failure means, Redis's own words, and what to
 * do. Names the variables to change; the URL is shown redacted.
 */
export function explainRedisError(err: unknown, settings: RedisSettings): string {
  const message = messageOf(err);
  const code = redisErrorCode(err);
  const where = describeRedis(settings);
  const at = `Redis at ${where}`;
  const said = message ? ` (${message})` : '';
  const tls = settings.url.startsWith('rediss:');
  const notTls = `${at} failed the TLS handshake${said}; if that port does not speak TLS, REDIS_URL must start with redis://`;
  switch (code) {
    case 'WRONGPASS':
      return `${at} refused the user or password${said}; check the user and password in REDIS_URL`;
    case 'NOAUTH':
      return (
        `${at} requires a password and none was given${said}; put it in REDIS_URL ` +
        '(redis://:password@host:6379, or redis://user:password@host:6379 for an ACL user)'
      );
    case 'NOPERM':
      return `${at} refused a command to REDIS_URL's user${said}; grant it what the README's "Redis authentication and TLS" lists`;
    case 'MOVED':
      return settings.topology.kind === 'cluster'
        ? `${at}: the cluster kept moving a slot${said}`
        : `${at} is a Redis Cluster node that does not serve push's keys${said}; list the cluster's nodes in REDIS_CLUSTER_NODES`;
    case 'CLUSTERDOWN':
      return `${at}: the cluster is down, a slot has no master${said}`;
    case 'READONLY':
      return `${at} is a read-only replica${said}; point push at the master, or at the sentinels (REDIS_SENTINELS)`;
    case 'MASTERDOWN':
      return `${at} is a replica that lost its master${said}`;
    case 'LOADING':
      return `${at} is still loading its data set${said}`;
    case 'OOM':
      return `${at} is out of memory${said}; pushes cannot be queued until maxmemory is raised or memory freed`;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return (
        `cannot reach Redis at ${where} (${code}). Start one — for example \`docker compose up -d redis\` ` +
        `or \`redis-server\` — or set ${settings.topology.kind === 'single' ? 'REDIS_URL' : variableOf(settings)}`
      );
    case 'ECONNRESET':
      return tls
        ? `${at} cut the connection during the TLS handshake${said}`
        : `${at} cut the connection${said}; if it expects TLS, REDIS_URL must start with rediss://`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return notTls;
  }
  if (code && CERTIFICATE_CODES.has(code)) {
    return code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? `TLS to ${at} failed: the server's certificate does not name the host push connects to${said}`
      : `TLS to ${at} failed: the server's certificate is not trusted (${code}); set REDIS_TLS_CA to the PEM of the CA that signed it`;
  }
  if (/wrong version number|packet length too long/i.test(message)) return notTls;
  if (/All sentinels are unreachable/.test(message)) {
    return `${at}: no sentinel answered${said}; check REDIS_SENTINELS and REDIS_SENTINEL_PASSWORD`;
  }
  if (/Failed to refresh slots cache/.test(message)) {
    return `${at}: no seed node of the cluster answered${said}; check REDIS_CLUSTER_NODES`;
  }
  return `${at} failed${said}`;
}

function variableOf(settings: RedisSettings): string {
  return settings.topology.kind === 'cluster' ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS';
}

function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : err === undefined ? '' : String(err);
}
