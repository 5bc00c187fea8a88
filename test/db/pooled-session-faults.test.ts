// The knex pool (src/db/connect-database.ts) lends no session that must be given up: one that
// answered read-only (the old writer after a failover) or one that did not answer within the
// deadline. Worker writes (push_attempts), retention and /readyz go through this pool.
import type { Knex } from 'knex';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectDatabase } from '../../src/db/connect-database.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
/** One connection, so that every query runs on the session the previous one left. */
let pool: Knex;
const warnings: Array<{ msg: string; fault?: string }> = [];

beforeAll(async () => {
  db = await createTestDatabase('pooled-session-faults');
  await db.knex.raw('CREATE TABLE pool_probe (id INT PRIMARY KEY)');
  const logger = createLogger('warn', {
    write: (line: string) => void warnings.push(JSON.parse(line)),
  });
  pool = connectDatabase(db.url, 1, { queryTimeoutMs: 500, logger });
});

afterAll(async () => {
  await pool?.destroy();
  await db?.drop();
});

async function sessionId(): Promise<number> {
  const [rows] = (await pool.raw('SELECT CONNECTION_ID() AS id')) as [Array<{ id: number }>];
  return Number(rows[0]!.id);
}

it('keeps lending a session after a statement MySQL refused', async () => {
  const before = await sessionId();
  await expect(pool.raw('SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
  expect(await sessionId()).toBe(before);
  expect(warnings).toEqual([]);
});

it('does not lend again a session that answered read-only: the next write gets a new one', async () => {
  const oldWriter = await sessionId();
  // Every write of this session now gets what a read-only server answers (error 1792 here,
  // 1290 from read_only=1: test/faults/database-failover.test.ts), without touching the shared
  // server's globals.
  await pool.raw('SET SESSION TRANSACTION READ ONLY');
  await expect(pool('pool_probe').insert({ id: 1 })).rejects.toMatchObject({ errno: 1792 });
  await pool('pool_probe').insert({ id: 1 });
  expect(await sessionId()).not.toBe(oldWriter);
  expect(warnings).toEqual([expect.objectContaining({ fault: 'read-only' })]);
});

it('gives up a query after the deadline and lends a new session, not the one still waiting', async () => {
  warnings.length = 0;
  const stuck = await sessionId();
  await expect(pool.raw('SELECT SLEEP(20)')).rejects.toMatchObject({
    code: 'PROTOCOL_SEQUENCE_TIMEOUT',
  });
  // With one connection in the pool, a query queued behind the unanswered SLEEP would miss its
  // own deadline; it is answered, on a new session.
  expect(await sessionId()).not.toBe(stuck);
  expect(warnings).toEqual([expect.objectContaining({ fault: 'timed out' })]);
});
