/**
 * Singer over HTTPS, as an internal gateway behind TLS is run: the client verifies the
 * certificate against the CAs Node trusts (NODE_EXTRA_CA_CERTS adds a company CA), and
 * refuses one it cannot verify as a transient failure that says why.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';
import type { SingerRequest } from '../../src/scenarios/types.js';
import { createSingerClient } from '../../src/singer/singer-client.js';
import { SingerTransientError } from '../../src/singer/singer-errors.js';
import { createTestCertificates, type TestCertificates } from '../support/test-certificates.js';

const runFile = promisify(execFile);

let certs: TestCertificates;
let server: https.Server;
let baseUrl: string;
const received: Array<{ key: string | undefined; body: string }> = [];

beforeAll(async () => {
  certs = await createTestCertificates();
  server = https.createServer(
    { cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) },
    (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ key: req.headers['idempotency-key'] as string | undefined, body });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await certs?.remove();
});

const push: SingerRequest = {
  idempotencyKey: 'evt-77-SERVICE_STARTED',
  channel: 'wechat',
  to: { role: 'patient', id: '98' },
  scenario: 'SERVICE_STARTED',
  operate: '服务开始',
  content: '护士已开始服务。',
  url: 'https://example.invalid/orders/77',
  data: { orderId: '77', eventId: '77' },
};

describe('Singer client over HTTPS', () => {
  it('delivers to a Singer whose certificate a trusted CA signed', async () => {
    // A process of its own: Node reads NODE_EXTRA_CA_CERTS only when it starts.
    const client = pathToFileURL(join(packageRoot, 'dist/src/singer/singer-client.js')).href;
    const script = `
      const { createSingerClient } = await import(${JSON.stringify(client)});
      const singer = createSingerClient({ baseUrl: ${JSON.stringify(baseUrl)}, timeoutMs: 5000 });
      const answer = await singer.send(${JSON.stringify(push)});
      singer.close();
      console.log(JSON.stringify({ status: answer.status }));`;
    const { stdout } = await runFile(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.caFile },
    });

    expect(JSON.parse(stdout)).toEqual({ status: 200 });
    expect(received.at(-1)?.key).toBe(push.idempotencyKey);
    expect(JSON.parse(received.at(-1)?.body ?? '{}')).toEqual(push);
  });

  it('refuses a certificate it cannot verify, as transient, saying why', async () => {
    const before = received.length;
    const singer = createSingerClient({ baseUrl, timeoutMs: 5000 });
    const err = await singer.send(push).then(
      () => undefined,
      (e: unknown) => e,
    );
    singer.close();

    expect(err).toBeInstanceOf(SingerTransientError);
    expect((err as Error).message).toContain(`cannot reach Singer at ${baseUrl}`);
    expect((err as Error).message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/);
    expect(received.length).toBe(before);
  });
});
