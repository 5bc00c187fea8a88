// The poller's own connection (src/outbox/claim-connection.ts): READ COMMITTED for its whole
// session, several statements per round trip, and a new connection after MySQL drops it, answers
// read-only or does not answer within the deadline.
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { openClaimConnection, type ClaimConnection } from '../../src/outbox/claim-connection.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
let claims: ClaimConnection;

beforeAll(async () => {
  db = await createTestDatabase('claim-connection');
  claims = openClaimConnection(db.url, { idleTimeoutS: 60, queryTimeoutMs: 10_000 });
});

afterAll(async () => {
  await claims?.close();
  await db?.drop();
});

async function connectionId(connection = claims): Promise<number> {
  const [row] = await connection.query<Array<{ id: number | string }>>(
    'SELECT CONNECTION_ID() AS id',
  );
  return Number(row!.id);
}

/** Rows of `table` another session could lock now (SKIP LOCKED passes over a held claim). */
async function claimableRows(table: string): Promise<number> {
  return db.knex.transaction(async (trx) => {
    const [rows] = (await trx.raw(`SELECT id FROM ?? FOR UPDATE SKIP LOCKED`, [table])) as [
      unknown[],
    ];
    return rows.length;
  });
}

/** A logger whose warnings the test reads. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger('warn', {
    write: (line: string) => void lines.push(JSON.parse(line)),
  });
  return { logger, lines };
}

interface LogLine {
  msg: string;
  fault?: string;
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
  const silent = openClaimConnection(db.url, { idleTimeoutS: 1, queryTimeoutMs: 10_000 });
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
  const nowhere = openClaimConnection(url.toString(), { idleTimeoutS: 60, queryTimeoutMs: 10_000 });
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

it('drops a session that answers read-only, and the next query opens a new one', async () => {
  await db.knex.raw('CREATE TABLE read_only_probe (id INT PRIMARY KEY)');
  const { logger, lines } = capturedLogger();
  const poller = openClaimConnection(db.url, { idleTimeoutS: 60, queryTimeoutMs: 10_000, logger });
  try {
    const oldWriter = await connectionId(poller);
    // A session that answers every write as a read-only server does, without touching the
    // shared server's globals: error 1792 here. A server with read_only=1 answers 1290
    // (test/faults/database-failover.test.ts).
    await poller.query('SET SESSION TRANSACTION READ ONLY');
    await expect(poller.query('INSERT INTO read_only_probe VALUES (1)')).rejects.toMatchObject({
      errno: 1792,
    });
    expect(await connectionId(poller)).not.toBe(oldWriter);
    await poller.query('INSERT INTO read_only_probe VALUES (1)');
    expect(lines).toEqual([
      expect.objectContaining({
        fault: 'read-only',
        msg: expect.stringMatching(/dropped the session/),
      }),
    ]);
  } finally {
    await poller.close();
  }
});

it('gives up a query MySQL does not answer within the deadline, and MySQL rolls back its claim', async () => {
  await db.knex.raw('CREATE TABLE deadline_claims (id INT PRIMARY KEY)');
  await db.knex('deadline_claims').insert([{ id: 1 }, { id: 2 }]);
  const { logger, lines } = capturedLogger();
  // wait_timeout 60 s: a claim released sooner was released by the dropped connection.
  const poller = openClaimConnection(db.url, { idleTimeoutS: 60, queryTimeoutMs: 500, logger });
  try {
    const stuck = await connectionId(poller);
    await poller.query('START TRANSACTION; SELECT id FROM deadline_claims FOR UPDATE');
    expect(await claimableRows('deadline_claims')).toBe(0);
    await expect(poller.query('SELECT SLEEP(5)')).rejects.toMatchObject({
      name: 'QueryDeadlineError',
      message: expect.stringMatching(/within 500 ms \(DB_QUERY_TIMEOUT_MS\)/),
    });
    expect(lines).toEqual([expect.objectContaining({ fault: 'timed out' })]);
    // The next query does not queue behind the unanswered one: it gets a session of its own.
    expect(await connectionId(poller)).not.toBe(stuck);
    await expect
      .poll(() => claimableRows('deadline_claims'), { timeout: 20_000, interval: 200 })
      .toBe(2);
  } finally {
    await poller.close();
  }
});
