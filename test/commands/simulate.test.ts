import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrderServiceTables,
  insertSampleNurses,
} from '../../src/demo/order-service-schema.js';
import { createTestDatabase, testRedisUrl, type TestDatabase } from '../support/test-database.js';
import { runCli } from '../support/run-cli.js';

const push = runCli;

describe('push simulate', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  let orderId: string;

  beforeAll(async () => {
    db = await createTestDatabase('simulate');
    await createOrderServiceTables(db.knex);
    await insertSampleNurses(db.knex);
    const [id] = await db
      .knex('orders')
      .insert({ patient_id: 98, nurse_id: 8, status: 'AWAITING_ACCEPT' });
    orderId = String(id);
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      ORDER_DETAIL_URL: 'https://m.example.com/orders/{{orderId}}?from=push',
    };
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("shows scenario 8 for a real order with the nurse's name from the database and the order's url", async () => {
    const { code, stdout } = await push(
      ['simulate', '--from', 'AWAITING_ACCEPT', '--to', 'AWAITING_SERVICE', '--order', orderId],
      env,
    );
    expect(code).toBe(0);
    expect(stdout).toContain('#8 NURSE_ACCEPTED 护士接单 → patient 98 via wechat');
    expect(stdout).toContain('"content": "您的订单已接单，点击查看订单详情。"');
    expect(stdout).toContain('"name": "李娜"');
    expect(stdout).toContain(`"url": "https://m.example.com/orders/${orderId}?from=push"`);
    expect(stdout).toContain('nothing was sent');
  });

  it('says it uses placeholder ids when no order is given', async () => {
    const { code, stdout } = await push(
      ['simulate', '--from', 'PAYING', '--to', 'AWAITING_ACCEPT'],
      env,
    );
    expect(code).toBe(0);
    expect(stdout).toContain('placeholder ids');
    expect(stdout).toContain('#2 PAYMENT_SUCCEEDED 患者支付成功 → nurse 7 via app');
    expect(stdout).toContain('"content": "您有新的可接接单。"');
  });

  it('says nothing fires for a change that produces no push, and which reason would make one fire', async () => {
    const { code, stdout } = await push(
      ['simulate', '--from', 'IN_SERVICE', '--to', 'REFUNDING'],
      env,
    );
    expect(code).toBe(0);
    expect(stdout).toContain('no scenario fires for this change');
    expect(stdout).toContain('#5 NURSE_CANCELLED would fire with reason NURSE_CANCELLED');
    expect(stdout).not.toContain('"content"');
  });

  it('says nothing fires for an unknown status, and why', async () => {
    const { code, stdout } = await push(
      ['simulate', '--from', 'IN_SERVICE', '--to', 'TELEPORTED'],
      env,
    );
    expect(code).toBe(0);
    expect(stdout).toContain('"TELEPORTED" is not a status');
    expect(stdout).toContain('matched by no rule');
  });

  it('shows a template change from SCENARIOS_FILE before it ships', async () => {
    const catalog = JSON.parse(await readFile('scenarios/scenarios.json', 'utf8')) as {
      scenarios: Array<{ key: string; template: string }>;
    };
    const accepted = catalog.scenarios.find((s) => s.key === 'NURSE_ACCEPTED');
    if (!accepted) throw new Error('NURSE_ACCEPTED missing from scenarios.json');
    accepted.template = '{{nurse.name}}护士已接单（订单 {{orderId}}）。';
    const dir = await mkdtemp(join(tmpdir(), 'push-simulate-'));
    try {
      const file = join(dir, 'scenarios.json');
      await writeFile(file, JSON.stringify(catalog));
      const { code, stdout } = await push(
        ['simulate', '--from', 'DISPATCHING', '--to', 'AWAITING_SERVICE', '--order', orderId],
        { ...env, SCENARIOS_FILE: file },
      );
      expect(code).toBe(0);
      expect(stdout).toContain(`"content": "李娜护士已接单（订单 ${orderId}）。"`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
