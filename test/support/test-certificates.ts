// A private certificate authority and a server certificate it signed, made by `openssl` in a temp
// directory, for servers the tests start with TLS: the certificate names 127.0.0.1 (an IP SAN) and
// localhost, as a production certificate names its host, and serves as a client certificate too
// (cluster nodes present theirs to each other on the cluster bus). `otherCaFile` is a CA that signed nothing
// here, for "the wrong CA is refused" tests.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  dir: string;
  /** PEM of the CA that signed the server certificate. */
  caFile: string;
  /** PEM of an unrelated CA. */
  otherCaFile: string;
  certFile: string;
  keyFile: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'push-certs-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  try {
    for (const ca of ['ca', 'other-ca']) {
      await openssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=push test ${ca}`,
        '-keyout',
        file(`${ca}.key`),
        '-out',
        file(`${ca}.pem`),
      );
    }
    await writeFile(
      file('server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
    );
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-days',
      '2',
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-extfile',
      file('server.ext'),
      '-out',
      file('server.pem'),
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make the test certificates: ${(err as Error).message}`);
  }
  return {
    dir,
    caFile: file('ca.pem'),
    otherCaFile: file('other-ca.pem'),
    certFile: file('server.pem'),
    keyFile: file('server.key'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
