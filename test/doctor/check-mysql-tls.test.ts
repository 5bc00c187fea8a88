// The doctor's TLS verdict from what the session reports (Ssl_version, Ssl_cipher) and where it
// goes. The encrypted report against a real TLS server is in test/db/mysql-tls.test.ts; a plain
// session to another machine cannot be made here, so the warning is judged from the values.
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, judgeMysqlTls } from '../../src/doctor/check-mysql-tls.js';

const PLAIN = { version: '', cipher: '' };
const ENCRYPTED = { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'LOCALHOST.',
    'db.localhost',
    '127.0.0.1',
    '127.10.0.3',
    '::1',
    '::ffff:127.0.0.1',
  ])('%s is this machine', (host) => expect(isLoopbackHost(host)).toBe(true));
  it.each([
    'mydb.abc123.eu-west-1.rds.amazonaws.com',
    'rm-bp1abc.mysql.rds.aliyuncs.com',
    'mysql',
    '10.0.0.5',
    '128.0.0.1',
    'fe80::1',
    'localhost.example.com',
  ])('%s is another machine', (host) => expect(isLoopbackHost(host)).toBe(false));
});

describe('judgeMysqlTls', () => {
  it('warns when a session to another machine is not encrypted, with the parameter that fixes it', () => {
    const judged = judgeMysqlTls(PLAIN, 'mydb.abc123.eu-west-1.rds.amazonaws.com', {
      mode: undefined,
      ca: undefined,
    });
    expect(judged).toMatchObject({
      check: 'mysql tls',
      verdict: 'warn',
      summary:
        'not encrypted: the login and every row travel to mydb.abc123.eu-west-1.rds.amazonaws.com in the clear',
    });
    expect(judged.fix).toContain(
      'add ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<CA bundle> to DATABASE_URL',
    );
    expect(judged.fix).toContain('ssl-ca=builtin:amazon-rds');
    // ssl-mode=DISABLED, chosen on purpose, is still worth the warning across a network.
    expect(judgeMysqlTls(PLAIN, '10.0.0.5', { mode: 'DISABLED', ca: undefined }).verdict).toBe(
      'warn',
    );
  });

  it('is ok with a plain session to this machine, saying why', () => {
    expect(judgeMysqlTls(PLAIN, '127.0.0.1', { mode: undefined, ca: undefined })).toMatchObject({
      verdict: 'ok',
      summary: 'not encrypted: 127.0.0.1 is this machine, so nothing crosses a network',
    });
  });

  it('reports the version and cipher of an encrypted session, and what REQUIRED and VERIFY_CA leave unchecked', () => {
    const identity = judgeMysqlTls(ENCRYPTED, 'db.example', {
      mode: 'VERIFY_IDENTITY',
      ca: '/etc/ssl/ca.pem',
    });
    expect(identity).toMatchObject({
      verdict: 'ok',
      summary: 'encrypted: TLSv1.3, TLS_AES_256_GCM_SHA384 (ssl-mode=VERIFY_IDENTITY)',
      details: [],
    });
    expect(
      judgeMysqlTls(ENCRYPTED, 'db.example', { mode: 'REQUIRED', ca: undefined }).details[0],
    ).toContain("does not check the server's certificate");
    expect(
      judgeMysqlTls(ENCRYPTED, 'db.example', { mode: 'VERIFY_CA', ca: '/ca.pem' }).details[0],
    ).toBe('ssl-mode=VERIFY_CA checks the CA, not that the certificate names db.example');
  });
});
