// `npm run demo` is the newcomer's first command: it must work on a database it has never
// seen and print every push of the walk-through, in Chinese, then exit 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.js';
import { createTestDatabase, testRedisUrl, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('demo');
});

afterAll(async () => {
  await db?.drop();
});

describe('push demo', () => {
  it('walks the demo orders through their lives and prints each push as Singer receives it', async () => {
    const run = await runCli(['demo'], { DATABASE_URL: db.url, REDIS_URL: testRedisUrl() });

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    const pushLine = (text: string) =>
      lines.find((line) => line.includes('✉') && line.includes(text));
    expect(pushLine('护士池 · 患者支付成功：您有新的可接接单。')).toBeDefined();
    expect(
      pushLine('患者 98 · 护士接单：您的订单已接单，点击查看订单详情。 〔护士 王芳〕'),
    ).toMatch(/https:\/\/m\.example\.com\/orders\/\d+$/);
    expect(pushLine('患者 99 · 患者支付超时：您的订单由于长时间没支付，已被取消。')).toBeDefined();
    expect(pushLine('护士 8 · 患者申请退款：您的订单患者正申请退款。')).toBeDefined();
    expect(
      pushLine(
        '患者 100 · 接单后患者发起退款，护士拒绝：您的退款申请护士已拒绝，等待客服人员处理，点击查看订单详情',
      ),
    ).toBeDefined();
    expect(pushLine('患者 100 · 同意退款：您的退款已被同意，正在给您退款。')).toBeDefined();
    const printed = lines.filter((line) => line.includes('✉')).length;
    expect(run.stdout).toContain(`\n${printed} pushes delivered.`);
    // The demo's database now holds its orders and one event per status change.
    const [[{ events }]] = (await db.knex.raw('SELECT COUNT(*) AS events FROM order_events')) as [
      [{ events: number }],
    ];
    expect(Number(events)).toBeGreaterThan(printed);
  });
});
