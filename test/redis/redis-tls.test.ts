// Redis over TLS with a private CA (issue 10, item 4): a redis-server started here with
// `--tls-port` only (no plain port) and a certificate for 127.0.0.1 signed by a CA that openssl
// made at setup. `rediss://` plus REDIS_TLS_CA delivers, and `push doctor` connects the same way;
// a certificate the CA did not sign, or plain redis:// against the TLS port, stops `push start`
// with a sentence that says TLS failed and what to set.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPipeline } from '../support/pipeline-harness.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { runCli } from '../support/run-cli.js';
import { createTestCertificates, type TestCertificates } from '../support/test-certificates.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const PASSWORD = 'tls p@ss/#%';

let certs: TestCertificates;
let redis: PrivateRedis;
let db: TestDatabase;
let url: string;

beforeAll(async () => {
  certs = await createTestCertificates();
  redis = await startPrivateRedis({
    tls: certs,
    args: ['--requirepass', PASSWORD],
    probe: { password: PASSWORD },
  });
  url = `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${redis.port}`;
  db = await createTestDatabase('redis-tls');
});

afterAll(async () => {
  await db?.drop();
  await redis?.destroy();
  await certs?.remove();
});

it('delivers over rediss:// with REDIS_TLS_CA, and push doctor connects the same way', async () => {
  const env = { REDIS_URL: url, REDIS_TLS_CA: certs.caFile };
  const pipeline = await startPipeline('redis-tls', { env });
  try {
    const orderId = await pipeline.createOrder({ patientId: 7, status: 'PAYING' });
    await pipeline.setStatus(orderId, 'AWAITING_ACCEPT');
    await pipeline.waitForPushes(1, { orderId });

    const doctor = await runCli(['doctor', '--json'], {
      ...env,
      DATABASE_URL: pipeline.config.databaseUrl,
      QUEUE_PREFIX: pipeline.queuePrefix,
    });
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<Record<string, string>> }).checks;
    expect(checks.find((check) => check.check === 'redis')).toMatchObject({ verdict: 'ok' });
  } finally {
    await pipeline.stop();
  }
});

const start = (env: Record<string, string>) =>
  runCli(['start'], { DATABASE_URL: db.url, PORT: '0', ...env });

it('refuses to start when the certificate is not signed by REDIS_TLS_CA, or no CA is given', async () => {
  const wrongCa = await start({ REDIS_URL: url, REDIS_TLS_CA: certs.otherCaFile });
  expect(wrongCa.code).toBe(1);
  expect(wrongCa.stderr).toContain("failed: the server's certificate is not trusted");
  expect(wrongCa.stderr).toContain('set REDIS_TLS_CA');
  expect(wrongCa.stderr).toContain('REDIS_URL=rediss://:***@127.0.0.1');

  // Node's public CAs do not know a private CA either.
  const noCa = await start({ REDIS_URL: url });
  expect(noCa.code).toBe(1);
  expect(noCa.stderr).toContain("failed: the server's certificate is not trusted");
  for (const run of [wrongCa, noCa]) expect(run.stderr).not.toContain(encodeURIComponent(PASSWORD));
});

it('refuses to start with plain redis:// against the TLS port, suggesting rediss://', async () => {
  const plain = await start({ REDIS_URL: url.replace(/^rediss:/, 'redis:') });
  expect(plain.code).toBe(1);
  expect(plain.stderr).toContain('REDIS_URL must start with rediss://');
});

it('refuses REDIS_TLS_CA without rediss://, and a CA file that is not there, by name', async () => {
  const notTls = await start({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_TLS_CA: certs.caFile });
  expect(notTls.code).toBe(1);
  expect(notTls.stderr).toContain('REDIS_TLS_CA: only applies to TLS');
  const missing = await start({ REDIS_URL: url, REDIS_TLS_CA: '/nonexistent/ca.pem' });
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain(
    'REDIS_TLS_CA (got "/nonexistent/ca.pem"): cannot be read (ENOENT)',
  );
});
