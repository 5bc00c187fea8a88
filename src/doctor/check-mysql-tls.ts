/**
 * Whether the doctor's own MySQL session is encrypted, and with what, as the server sees it
 * (`Ssl_version`, `Ssl_cipher`). The doctor connects exactly as the service does
 * (database-url.ts), so this is what the service's sessions get. A plain session to another
 * machine carries the password exchange and every order row across the network in the clear:
 * a warning, with the parameter that fixes it.
 */
import { isIP } from 'node:net';
import type { Knex } from 'knex';
import { ok, warn, type CheckResult } from './check-result.js';
import type { DatabaseTls } from '../db/database-url.js';

const CHECK = 'mysql tls';

export interface SessionTls {
  /** `TLSv1.3`; '' when the session is not encrypted. */
  version: string;
  /** `TLS_AES_256_GCM_SHA384`; '' when the session is not encrypted. */
  cipher: string;
}

export async function readSessionTls(knex: Knex): Promise<SessionTls> {
  const [rows] = (await knex.raw(
    "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')",
  )) as [{ Variable_name: string; Value: string }[]];
  const value = (name: string) => rows.find((row) => row.Variable_name === name)?.Value ?? '';
  return { version: value('Ssl_version'), cipher: value('Ssl_cipher') };
}

/** This machine: `localhost`, 127.0.0.0/8 or ::1 (a unix socket never reaches here). */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || /^::ffff:127\./.test(name);
  return false;
}

const ADD_TLS =
  'add ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<CA bundle> to DATABASE_URL ' +
  '(AWS RDS: ssl-ca=builtin:amazon-rds; README, "TLS")';

export function judgeMysqlTls(session: SessionTls, host: string, tls: DatabaseTls): CheckResult {
  if (session.cipher !== '') {
    const notes: string[] = [];
    if (tls.mode === 'REQUIRED') {
      notes.push(
        "ssl-mode=REQUIRED encrypts but does not check the server's certificate: " +
          'VERIFY_IDENTITY with ssl-ca also proves the server is yours',
      );
    } else if (tls.mode === 'VERIFY_CA') {
      notes.push(`ssl-mode=VERIFY_CA checks the CA, not that the certificate names ${host}`);
    }
    return ok(
      CHECK,
      `encrypted: ${session.version || 'TLS'}, ${session.cipher} (ssl-mode=${tls.mode ?? 'unset'})`,
      notes,
    );
  }
  if (isLoopbackHost(host)) {
    return ok(CHECK, `not encrypted: ${host} is this machine, so nothing crosses a network`);
  }
  return warn(
    CHECK,
    `not encrypted: the login and every row travel to ${host} in the clear`,
    ADD_TLS,
  );
}

export async function checkMysqlTls(
  knex: Knex,
  host: string,
  tls: DatabaseTls,
): Promise<CheckResult> {
  return judgeMysqlTls(await readSessionTls(knex), host, tls);
}
