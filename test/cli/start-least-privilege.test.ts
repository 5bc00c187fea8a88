// The regression test for "the poller logged in without the password": `push migrate` and
// `push start` as child processes, exactly as an operator runs them, on the least-privilege
// account with a password that needs percent-encoding (app-account.ts). A status change must
// reach the stand-in Singer; before the fix /readyz never answered 200 and nothing was claimed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createOrderServiceTables,
  insertSampleNurses,
} from '../../src/demo/order-service-schema.js';
import { startStubSinger, type StubSinger } from '../../src/singer/stub-singer.js';
import { eventually } from '../support/pipeline-harness.js';
import { runCli } from '../support/run-cli.js';
import { startServiceProcess, stopAllServiceProcesses } from '../support/service-process.js';
import {
  createTestDatabase,
  deleteQueueKeys,
  testQueuePrefix,
  testRedisUrl,
  type TestDatabase,
} from '../support/test-database.js';

let db: TestDatabase;
let singer: StubSinger;
const prefix = testQueuePrefix('least-privilege');

beforeAll(async () => {
  db = await createTestDatabase('least-privilege');
  singer = await startStubSinger();
  await createOrderServiceTables(db.knex);
  await insertSampleNurses(db.knex);
});

afterAll(async () => {
  await stopAllServiceProcesses();
  await singer?.close();
  await deleteQueueKeys(testRedisUrl(), prefix);
  await db?.drop();
});

it('migrates, becomes ready and delivers with a passworded least-privilege DATABASE_URL', async () => {
  // The URL really carries an encoded password with every character that once went wrong.
  expect(db.url).toMatch(/:p%40ss%3Aw%2Frd%3F%23%25%2B%26%20%3D[0-9a-f]+@/);
  const [grants] = (await db.knex.raw('SHOW GRANTS')) as [Array<Record<string, string>>];
  const grantText = grants.map((row) => Object.values(row)[0]).join('\n');
  expect(grantText).not.toMatch(/SUPER|REPLICATION|ALL PRIVILEGES/);
  expect(grantText).toMatch(/GRANT USAGE ON \*\.\*/);

  const migrate = await runCli(['migrate'], { DATABASE_URL: db.url });
  expect(migrate.stderr).toBe('');
  expect(migrate.code).toBe(0);

  const service = await startServiceProcess({
    name: 'least-privilege',
    databaseUrl: db.url,
    redisUrl: testRedisUrl(),
    singerUrl: singer.url,
    queuePrefix: prefix,
  });
  await service.waitUntilReady(20_000);

  const [id] = await db.knex('orders').insert({ patient_id: 98, status: 'PAYING' });
  await db.knex('orders').where({ id }).update({ status: 'AWAITING_ACCEPT' });
  const pushes = await eventually(
    () => (singer.requests.length > 0 ? singer.requests : undefined),
    20_000,
    () => `no push reached Singer; push start said:\n${service.output()}`,
  );
  expect(pushes[0]?.body.data.orderId).toBe(String(id));
  expect(service.output()).not.toMatch(/ER_ACCESS_DENIED_ERROR|using password: NO/);
});
