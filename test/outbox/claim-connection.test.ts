// The poller's own connection (src/outbox/claim-connection.ts): READ COMMITTED for its whole
// session, several statements per round trip, and a new connection after MySQL drops it.
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openClaimConnection, type ClaimConnection } from '../../src/outbox/claim-connection.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
let claims: ClaimConnection;

beforeAll(async () => {
  db = await createTestDatabase('claim-connection');
  claims = openClaimConnection(db.url, 60);
});

afterAll(async () => {
  await claims?.close();
  await db?.drop();
});

async function connectionId(): Promise<number> {
  const [row] = await claims.query<Array<{ id: number | string }>>('SELECT CONNECTION_ID() AS id');
  return Number(row!.id);
}

it('runs every transaction READ COMMITTED without asking each time', async () => {
  // MariaDB calls it tx_isolation, MySQL 8 transaction_isolation.
  const rows = await claims.query<Array<{ Variable_name: string; Value: string }>>(
    "SHOW SESSION VARIABLES WHERE Variable_name IN ('tx_isolation', 'transaction_isolation')",
  );
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) expect(row.Value).toBe('READ-COMMITTED');
});

it('sends several statements in one query and returns each one’s result', async () => {
  const [opened, rows, committed] = await claims.query<[unknown, Array<{ n: number }>, unknown]>(
    'START TRANSACTION; SELECT ? + 1 AS n; COMMIT',
    [41],
  );
  expect(opened).toMatchObject({ affectedRows: 0 });
  expect(rows).toEqual([{ n: 42 }]);
  expect(committed).toMatchObject({ affectedRows: 0 });
});

it('keeps its session after a statement MySQL refuses', async () => {
  const before = await connectionId();
  await expect(claims.query('SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
  expect(await connectionId()).toBe(before);
});

it('fails the query in flight when MySQL kills the connection, then opens a new one', async () => {
  const killed = await connectionId();
  // Its outcome is taken at once: the rejection may come before the KILL's own answer.
  const victim = claims.query('SELECT SLEEP(5)').then(
    () => 'answered',
    (err: Error) => err.message,
  );
  await expect
    .poll(async () => {
      const [rows] = (await db.knex.raw(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE 'SELECT SLEEP%'",
        [killed],
      )) as [unknown[]];
      return rows.length;
    })
    .toBe(1);
  await db.knex.raw(`KILL CONNECTION ${killed}`);
  expect(await victim).toMatch(/connection lost|closed the connection/i);

  const replacement = await connectionId();
  expect(replacement).not.toBe(killed);
  const rows = await claims.query<Array<{ Value: string }>>(
    "SHOW SESSION VARIABLES WHERE Variable_name IN ('tx_isolation', 'transaction_isolation')",
  );
  for (const row of rows) expect(row.Value).toBe('READ-COMMITTED');
});

it('lets MySQL roll back the claim of a session that went silent, after its idle timeout', async () => {
  await db.knex.raw('CREATE TABLE silent_claims (id INT PRIMARY KEY)');
  await db.knex('silent_claims').insert([{ id: 1 }, { id: 2 }]);
  const claimableNow = () =>
    db.knex.transaction(async (trx) => {
      const [rows] = (await trx.raw('SELECT id FROM silent_claims FOR UPDATE SKIP LOCKED')) as [
        unknown[],
      ];
      return rows.length;
    });
  const silent = openClaimConnection(db.url, 1);
  try {
    // A claim, then nothing: the poller's host died with the transaction open.
    await silent.query('START TRANSACTION; SELECT id FROM silent_claims FOR UPDATE');
    expect(await claimableNow()).toBe(0);
    await expect.poll(claimableNow, { timeout: 10_000, interval: 200 }).toBe(2);
  } finally {
    await silent.close();
  }
  // And the session the poller uses is told the timeout it was given.
  const [row] = await claims.query<Array<{ Value: string }>>(
    "SHOW SESSION VARIABLES LIKE 'wait_timeout'",
  );
  expect(row!.Value).toBe('60');
});

it('opens no connection just to roll back when none could be opened', async () => {
  // A "MySQL" that hangs up on every connection, counting them.
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(db.url);
  url.port = String((server.address() as AddressInfo).port);
  const nowhere = openClaimConnection(url.toString(), 60);
  try {
    await expect(nowhere.query('SELECT 1')).rejects.toThrow();
    expect(connections).toBe(1);
    await nowhere.rollback();
    expect(connections).toBe(1);
    // The next query does try again: a MySQL that comes back is used.
    await expect(nowhere.query('SELECT 1')).rejects.toThrow();
    expect(connections).toBe(2);
  } finally {
    await nowhere.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
