/**
 * The one connection every schema change of `push migrate` goes through, so that each change
 * waits a bounded time for its metadata lock, and so that `--print-sql` shows exactly what a
 * migrate would run: the same steps run against the same server in both modes; in print
 * mode `change()` records the statement instead of sending it, while reads still run.
 *
 * Why bounded: DDL on `orders` (the trigger) or on `order_events` (which every UPDATE on
 * `orders` opens, through the trigger) needs an exclusive metadata lock, and while it waits
 * for one, every later query on the table queues behind it (MySQL bug #79274). MySQL's default
 * `lock_wait_timeout` is a year (also on RDS), so one report left open on `orders` would
 * freeze order writes for as long as it runs. Here each change waits at most
 * `lockWaitS`, then steps aside (the queued order writes run), pauses and tries again, up to
 * `lockAttempts` times, and then fails naming who holds the lock (lock-holders.ts).
 *
 * A connection of its own, outside knex's pool (knex's raw connection, the same settings and
 * password): the session variable must hold for every statement, LOCK TABLES must be released
 * with the session whatever happens, and the knex migrator needs the pool meanwhile.
 */
import type { Knex } from 'knex';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeLockWait } from './lock-holders.js';
import { serverFlavorOf, type ServerVersion } from './server-version.js';

/** information_schema and SHOW, on whatever connection: what the planning steps read. */
export type ReadSql = <Row>(sql: string, bindings?: readonly unknown[]) => Promise<Row[]>;

export interface SchemaSession {
  readonly flavor: ServerVersion['flavor'];
  read: ReadSql;
  /** Runs one schema change with the bounded lock wait (or, printing, records it). */
  change(sql: string): Promise<void>;
}

export interface LockWaitSettings {
  /** Session lock_wait_timeout for every change, in seconds (MySQL counts whole seconds). */
  lockWaitS: number;
  /** How many times a change waits that long before push gives up. */
  lockAttempts: number;
}

/**
 * MIGRATION_LOCK_WAIT_S / MIGRATION_LOCK_ATTEMPTS. Granted at once, replacing the trigger
 * holds its lock for milliseconds; the wait only matters when something else holds one.
 * 2 s lets ordinary order transactions (well under a second) finish first, and delays an
 * order write queued behind the waiting change by at most that (docs/BENCHMARKS.md,
 * "Migrating on a busy orders table"); three attempts, a second apart, ride out a burst.
 */
export const DEFAULT_LOCK_WAIT: LockWaitSettings = { lockWaitS: 2, lockAttempts: 3 };

export interface OpenSchemaSession {
  session: SchemaSession;
  /** Every change, in order, as sent (or, printing, as it would be sent); SET first. */
  statements: string[];
  close(): Promise<void>;
}

/** MySQL and MariaDB: ER_LOCK_WAIT_TIMEOUT, for metadata locks as for row locks. */
const ER_LOCK_WAIT_TIMEOUT = 1205;
/**
 * Between attempts: long enough for the order writes that queued behind the waiting change
 * to run (milliseconds each), short against the wait itself.
 */
const RETRY_PAUSE_MS = 1_000;

interface RawConnection {
  query(sql: string, bindings: unknown[], cb: (err: Error | null, rows: unknown) => void): void;
}

interface KnexClientWithRawConnections {
  acquireRawConnection(): Promise<RawConnection>;
  destroyRawConnection(connection: RawConnection): Promise<void>;
}

export async function openSchemaSession(
  knex: Knex,
  settings: LockWaitSettings & { printOnly?: boolean },
): Promise<OpenSchemaSession> {
  const client = knex.client as unknown as KnexClientWithRawConnections;
  const connection = await client.acquireRawConnection();
  const send = (sql: string, bindings: readonly unknown[] = []) =>
    new Promise<unknown>((resolve, reject) =>
      connection.query(sql, [...bindings], (err, rows) => (err ? reject(err) : resolve(rows))),
    );
  const read: ReadSql = async <Row>(sql: string, bindings?: readonly unknown[]) =>
    (await send(sql, bindings)) as Row[];

  try {
    const [server] = await read<{ version: string }>('SELECT VERSION() AS version');
    const statements: string[] = [];
    const printOnly = settings.printOnly ?? false;
    const lockWaitS = Math.max(1, Math.round(settings.lockWaitS));
    const lockWait = `SET SESSION lock_wait_timeout = ${lockWaitS}`;
    statements.push(lockWait);
    if (!printOnly) await send(lockWait);

    const flavor = serverFlavorOf(server?.version ?? '');
    const session: SchemaSession = {
      flavor,
      read,
      async change(sql: string) {
        statements.push(sql);
        if (printOnly) return;
        for (let attempt = 1; ; attempt++) {
          try {
            await send(sql);
            return;
          } catch (err) {
            if ((err as { errno?: number }).errno !== ER_LOCK_WAIT_TIMEOUT) throw err;
            if (attempt >= settings.lockAttempts) {
              throw await describeLockWait(read, {
                sql,
                lockWaitS,
                attempts: attempt,
                flavor,
                cause: err,
              });
            }
            await sleep(RETRY_PAUSE_MS);
          }
        }
      },
    };
    return {
      session,
      statements,
      // Ending the connection also ends any LOCK TABLES a failed step left behind.
      close: () => client.destroyRawConnection(connection),
    };
  } catch (err) {
    await client.destroyRawConnection(connection);
    throw err;
  }
}

/** A ReadSql on a knex pool, for readers outside a migrate run (push doctor). */
export function readerOf(knex: Knex): ReadSql {
  return async <Row>(sql: string, bindings: readonly unknown[] = []) => {
    const [rows] = (await knex.raw(sql, bindings as Knex.RawBinding[])) as [Row[]];
    return rows;
  };
}
