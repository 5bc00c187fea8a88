// The order service's own connections in tests: the application account (db.url), in strict
// SQL mode as on RDS (MySQL 8's default), so a value push's trigger could not store would fail
// the order's UPDATE here exactly as it would there. Logged in as mysql-login.ts says (TLS
// where the URL asks for it).
import knexFactory, { type Knex } from 'knex';
import { createConnection, type Connection } from 'mysql2/promise';
import { mysqlLogin } from './mysql-login.js';

export const STRICT_SQL_MODE =
  'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

/** A knex pool whose every session runs in strict mode. */
export function connectOrderService(url: string, poolMax = 2): Knex {
  return knexFactory({
    client: 'mysql2',
    connection: mysqlLogin(url) as Knex.MySql2ConnectionConfig,
    pool: {
      min: 0,
      max: poolMax,
      afterCreate(
        conn: { query: (sql: string, cb: (err: Error | null) => void) => void },
        done: (err: Error | null, conn: unknown) => void,
      ) {
        conn.query(`SET SESSION sql_mode = '${STRICT_SQL_MODE}'`, (err) => done(err, conn));
      },
    },
  });
}

/** One connection of its own (a writer, a report), in strict mode. */
export async function orderServiceConnection(url: string): Promise<Connection> {
  const connection = await createConnection(mysqlLogin(url));
  await connection.query(`SET SESSION sql_mode = '${STRICT_SQL_MODE}'`);
  return connection;
}
