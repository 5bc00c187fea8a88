import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { migrationContextOf } from '../../src/db/migration-context.js';
import { migrateLatest } from '../../src/db/run-migrations.js';
import {
  createOrderServiceTables,
  insertSampleNurses,
} from '../../src/demo/order-service-schema.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Service } from '../../src/main.js';
import { startStubSinger, type StubSinger } from '../../src/singer/stub-singer.js';
import {
  createTestDatabase,
  deleteQueueKeys,
  testQueuePrefix,
  testRedisUrl,
  type TestDatabase,
} from '../support/test-database.js';
import { runCli } from '../support/run-cli.js';

const push = runCli;

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface TraceJson {
  orderId: string;
  queueProblem: string | null;
  events: Array<{
    eventId: string;
    fromStatus: string;
    toStatus: string;
    handedOffAt: string | null;
    unknownStatuses: string[];
    pushes: Array<{
      scenario: string;
      recipient: string;
      state: string;
      queue: { delivery: string; deadLetter: string } | null;
      attempts: Array<{
        attempt: number;
        outcome: string;
        singerStatus: number | null;
        error: string | null;
      }>;
    }>;
  }>;
  told: Array<{ recipient: string; scenario: string; told: string }>;
}

describe('push trace', () => {
  let db: TestDatabase;
  let stub: StubSinger;
  let service: Service | undefined;
  let env: Record<string, string>;
  let retriedOrder: string;
  let refusedOrder: string;
  const prefix = testQueuePrefix('trace');

  beforeAll(async () => {
    db = await createTestDatabase('trace');
    await createOrderServiceTables(db.knex);
    await insertSampleNurses(db.knex);
    const [first] = await db
      .knex('orders')
      .insert({ patient_id: 98, nurse_id: 7, status: 'AWAITING_ACCEPT' });
    const [second] = await db
      .knex('orders')
      .insert({ patient_id: 99, nurse_id: 8, status: 'IN_SERVICE' });
    retriedOrder = String(first);
    refusedOrder = String(second);

    // Order one: Singer is unavailable once, then takes the push. Order two: Singer refuses it.
    stub = await startStubSinger({
      respond: (incoming, attempt) => {
        if (incoming.body.data.orderId === refusedOrder)
          return { status: 400, body: { error: 'unknown openid' } };
        return attempt === 1 ? { status: 503 } : { status: 200 };
      },
    });
    const config = loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      SINGER_URL: stub.url,
      QUEUE_PREFIX: prefix,
      ROLES: 'poller,worker',
      DELIVERY_BACKOFF_BASE_MS: '50',
      DELIVERY_BACKOFF_MAX_MS: '200',
      LOG_LEVEL: 'silent',
    });
    await migrateLatest(db.knex, migrationContextOf(config));
    service = await startService(config, { logger: createLogger('silent') });

    await db.knex('orders').where({ id: retriedOrder }).update({ status: 'AWAITING_SERVICE' });
    await db.knex('orders').where({ id: refusedOrder }).update({ status: 'SERVICE_DONE' });
    // 503 + 200 for order one, 400 for order two.
    await stub.waitForRequests(3, 20_000);
    // A status the scenario file does not know: recorded, matched by no rule.
    await db.knex('orders').where({ id: retriedOrder }).update({ status: 'TELEPORTED' });
    await waitFor(
      async () => (await db.knex('order_events').whereNull('handed_off_at')).length === 0,
    );
    // stop() flushes the delivery trace (push_attempts) before it returns.
    await service.stop();
    service = undefined;

    env = { DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix };
  });

  afterAll(async () => {
    await service?.stop();
    await stub?.close();
    await deleteQueueKeys(testRedisUrl(), prefix);
    await db?.drop();
  });

  it('shows every attempt of a push that was retried, then delivered', async () => {
    const { code, stdout } = await push(['trace', retriedOrder, '--json'], env);
    expect(code).toBe(0);
    const trace = JSON.parse(stdout) as TraceJson;
    expect(trace.queueProblem).toBeNull();
    expect(trace.events.map((e) => `${e.fromStatus}→${e.toStatus}`)).toEqual([
      'AWAITING_ACCEPT→AWAITING_SERVICE',
      'AWAITING_SERVICE→TELEPORTED',
    ]);
    const [accepted, teleported] = trace.events;
    expect(accepted?.handedOffAt).not.toBeNull();
    expect(accepted?.pushes).toHaveLength(1);
    const pushed = accepted?.pushes[0];
    expect(pushed).toMatchObject({
      scenario: 'NURSE_ACCEPTED',
      recipient: 'patient 98',
      state: 'delivered',
      queue: { delivery: 'completed', deadLetter: 'unknown' },
    });
    expect(pushed?.attempts).toMatchObject([
      { attempt: 1, outcome: 'retry', singerStatus: 503 },
      { attempt: 2, outcome: 'delivered', singerStatus: 200, error: null },
    ]);
    expect(pushed?.attempts[0]?.error).toContain('503');
    expect(teleported).toMatchObject({ unknownStatuses: ['TELEPORTED'], pushes: [] });
    expect(trace.told).toEqual([
      {
        recipient: 'patient 98',
        scenario: 'NURSE_ACCEPTED',
        eventId: accepted?.eventId,
        told: 'yes',
        explanation: expect.stringContaining('attempt 2'),
      },
    ]);
  });

  it('answers "did the patient get told?" in plain text', async () => {
    const { code, stdout } = await push(['trace', retriedOrder], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /#8 NURSE_ACCEPTED → patient 98 \(wechat\): delivered at \S+ \(attempt 2\)/,
    );
    expect(stdout).toMatch(/attempt 1 {2}retry {5}.*Singer 503/);
    expect(stdout).toMatch(/attempt 2 {2}delivered .*Singer 200/);
    expect(stdout).toContain('no rule matched (unknown status TELEPORTED)');
    expect(stdout).toMatch(/Who was told\?\n {2}patient 98: yes — NURSE_ACCEPTED/);
  });

  it('says a push Singer refused was dead-lettered, and how to resend it', async () => {
    const { code, stdout } = await push(['trace', refusedOrder], env);
    expect(code).toBe(0);
    expect(stdout).toContain('SERVICE_COMPLETED → patient 99 (wechat): dead-lettered');
    expect(stdout).toContain('npx push dlq replay');
    expect(stdout).toMatch(/patient 99: no — SERVICE_COMPLETED/);
  });

  it('explains an order with no events', async () => {
    const { code, stdout } = await push(['trace', '424242'], env);
    expect(code).toBe(0);
    expect(stdout).toContain('order 424242 has no events in order_events');
  });
});
