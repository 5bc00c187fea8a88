// `push migrate --print-sql` for a DBA's change ticket: it prints exactly the statements the
// next `push migrate` runs, and runs none of them. "Exactly" is taken from the server: a
// private RDS-like MariaDB (binary log on, the least-privilege account) with its general query
// log on records every statement the real CLI sends, and the schema it leaves behind
// (information_schema, SHOW CREATE TRIGGER) is compared with the printed DDL. Also `--down`:
// refused while events are unfinished, saying how many, unless --force.
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerBodyOf, TRIGGER_NAME } from '../../src/db/order-trigger.js';
import { normalizeSql } from '../../src/db/order-trigger.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { connectDatabase } from '../../src/db/connect-database.js';
import { startRdsLikeMariaDb, type RdsLikeServer } from '../support/rds-like-mariadb.js';
import { runCli } from '../support/run-cli.js';

let server: RdsLikeServer;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startRdsLikeMariaDb();
  await server.setTrustFunctionCreators(true);
  // A private server: its general log may be switched on (never on the shared one).
  await asRoot(["SET GLOBAL log_output = 'TABLE'", 'SET GLOBAL general_log = 1']);
  const app = connectDatabase(server.appUrl, 1);
  try {
    await createOrderServiceTables(app);
  } finally {
    await app.destroy();
  }
  env = { DATABASE_URL: server.appUrl };
});

afterAll(async () => {
  await server?.stop();
});

/**
 * Root on the private server, for what the product's account may not or would not do: switch
 * on and read the general log, read information_schema as it is, and act as the order
 * service's DBA (widen a column) or the order service itself (write orders).
 */
async function asRoot<T = unknown>(statements: string[]): Promise<T[]> {
  const connection = await createConnection({ uri: server.rootUrl });
  try {
    const results: T[] = [];
    for (const sql of statements) results.push((await connection.query(sql))[0] as T);
    return results;
  } finally {
    await connection.end();
  }
}

async function push(args: string[]): Promise<string> {
  const run = await runCli(args, env);
  expect(run.code, `push ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

/** The statements of a script for the mysql client: `;` ends one, `;;` inside DELIMITER ;;. */
function statementsOf(script: string): string[] {
  const statements: string[] = [];
  let delimiter = ';';
  let current: string[] = [];
  for (const line of script.split('\n')) {
    if (current.length === 0 && (line.startsWith('--') || line.trim() === '')) continue;
    const set = /^DELIMITER (\S+)$/.exec(line.trim());
    if (set) {
      delimiter = set[1]!;
      continue;
    }
    current.push(line);
    if (line.trimEnd().endsWith(delimiter)) {
      statements.push(current.join('\n').trimEnd().slice(0, -delimiter.length));
      current = [];
    }
  }
  expect(current, 'an unterminated statement').toEqual([]);
  return statements;
}

/** What the app account sent since `since`: push's own changes, without reads and knex's bookkeeping. */
async function changesSentSince(since: string): Promise<string[]> {
  const [rows] = await asRoot<{ sql: string }[]>([
    `SELECT CONVERT(argument USING utf8mb4) AS \`sql\` FROM mysql.general_log
      WHERE event_time > '${since}' AND command_type = 'Query' AND user_host LIKE '${server.appUser}[%'
      ORDER BY event_time, thread_id`,
  ]);
  return rows!
    .map((row) => row.sql)
    .filter((sql) => !/^\s*(SELECT|SHOW|BEGIN|COMMIT|ROLLBACK|SET time_zone)\b/i.test(sql))
    .filter((sql) => !/push_migrations/i.test(sql));
}

async function now(): Promise<string> {
  const [rows] = await asRoot<{ t: string }[]>([
    "SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f') AS t",
  ]);
  return rows![0]!.t;
}

/** AUTO_INCREMENT starts at the migrating moment's milliseconds: the one value that must differ. */
function sameStatements(printed: string[], sent: string[]): void {
  const normal = (list: string[]) =>
    list.map((sql) => normalizeSql(sql).replace(/AUTO_INCREMENT=\d+/, 'AUTO_INCREMENT=<now>'));
  expect(normal(sent)).toEqual(normal(printed));
}

interface ColumnRow {
  table: string;
  name: string;
  type: string;
  nullable: string;
  charset: string | null;
}

/** Every column a printed CREATE TABLE defines, as information_schema would show it. */
function columnsOfCreateTable(sql: string): ColumnRow[] {
  const table = /CREATE TABLE IF NOT EXISTS `(\w+)`/.exec(sql)?.[1] ?? '';
  return [
    ...sql.matchAll(
      /^\s+(\w+)\s+(\w+(?:\(\d+\))?(?: UNSIGNED)?)(?: CHARACTER SET (\w+) COLLATE \w+)?\s+(NOT NULL|NULL)/gm,
    ),
  ]
    .filter(([, name]) => !['PRIMARY', 'KEY'].includes(name!))
    .map(([, name, type, charset, nullability]) => ({
      table,
      name: name!,
      type: type!.toLowerCase(),
      nullable: nullability === 'NULL' ? 'YES' : 'NO',
      charset: charset ?? (/char/i.test(type!) ? 'utf8mb4' : null),
    }));
}

async function serverColumns(tables: string[]): Promise<ColumnRow[]> {
  const [rows] = await asRoot<ColumnRow[]>([
    `SELECT TABLE_NAME AS \`table\`, COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable,
            CHARACTER_SET_NAME AS charset
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${server.database}'
        AND TABLE_NAME IN (${tables.map((t) => `'${t}'`).join(', ')}) ORDER BY TABLE_NAME, ORDINAL_POSITION`,
  ]);
  return rows!.map((r) => ({ ...r, type: r.type.replace(/^(\w*int)\(\d+\)/, '$1') }));
}

describe('push migrate --print-sql', () => {
  it('prints exactly what the next migrate runs, changes nothing, and the server then has that schema', async () => {
    const printed = statementsOf(await push(['migrate', '--print-sql']));

    // Nothing ran: no push table, no trigger.
    const [tables] = await asRoot<{ n: number }[]>([
      `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${server.database}' AND (TABLE_NAME LIKE 'push%' OR TABLE_NAME = 'order_events')`,
    ]);
    expect(Number(tables![0]!.n)).toBe(0);
    expect(printed[0]).toBe('SET SESSION lock_wait_timeout = 2');
    expect(printed.map((sql) => sql.split('\n')[0])).toEqual([
      'SET SESSION lock_wait_timeout = 2',
      'CREATE TABLE IF NOT EXISTS `order_events` (',
      `CREATE TRIGGER \`${TRIGGER_NAME}\` AFTER UPDATE ON \`orders\` FOR EACH ROW`,
      'CREATE TABLE IF NOT EXISTS `push_attempts` (',
      'CREATE TABLE IF NOT EXISTS `push_outcomes` (',
    ]);

    const since = await now();
    await push(['migrate']);
    sameStatements(printed, await changesSentSince(since));

    // The server's own view of what it was told to create.
    const creates = printed.filter((sql) => /CREATE TABLE/.test(sql));
    expect(await serverColumns(['order_events', 'push_attempts', 'push_outcomes'])).toEqual(
      creates.flatMap(columnsOfCreateTable).sort((a, b) => a.table.localeCompare(b.table)),
    );
    const [[trigger]] = (await asRoot<
      { body: string; timing: string; event: string; table: string }[]
    >([
      `SELECT ACTION_STATEMENT AS body, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event,
              EVENT_OBJECT_TABLE AS \`table\`
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${server.database}' AND TRIGGER_NAME = '${TRIGGER_NAME}'`,
    ])) as [{ body: string; timing: string; event: string; table: string }[]];
    const createTrigger = printed.find((sql) => sql.startsWith('CREATE TRIGGER'))!;
    expect(trigger).toEqual({
      body: triggerBodyOf(createTrigger),
      timing: 'AFTER',
      event: 'UPDATE',
      table: 'orders',
    });
    const [[shown]] = (await asRoot([
      `SHOW CREATE TRIGGER \`${server.database}\`.\`${TRIGGER_NAME}\``,
    ])) as [Record<string, string>[]];
    expect(normalizeSql(shown!['SQL Original Statement'] ?? '').replace(/ DEFINER=\S+/, '')).toBe(
      normalizeSql(createTrigger),
    );

    // Up to date: only the session's SET, and the next run sends nothing else either.
    expect(statementsOf(await push(['migrate', '--print-sql']))).toEqual([
      'SET SESSION lock_wait_timeout = 2',
    ]);
  });

  it('prints the alignment a migrate runs for drift, though no migration is pending', async () => {
    await asRoot(['ALTER TABLE orders MODIFY status VARCHAR(90) NOT NULL']);
    try {
      const script = await push(['migrate', '--print-sql']);
      expect(script).toContain('-- migrations to apply: none');
      const printed = statementsOf(script);
      expect(printed.map((sql) => sql.split('\n')[0])).toEqual([
        'SET SESSION lock_wait_timeout = 2',
        expect.stringMatching(
          /^ALTER TABLE `order_events` MODIFY `from_status` VARCHAR\(90\) .*ALGORITHM=INPLACE, LOCK=NONE$/,
        ),
        `CREATE OR REPLACE TRIGGER \`${TRIGGER_NAME}\` AFTER UPDATE ON \`orders\` FOR EACH ROW`,
      ]);

      const since = await now();
      await push(['migrate']);
      sameStatements(printed, await changesSentSince(since));
      const columns = await serverColumns(['order_events']);
      expect(columns.find((c) => c.name === 'to_status')?.type).toBe('varchar(90)');
    } finally {
      await asRoot(['ALTER TABLE orders MODIFY status VARCHAR(32) NOT NULL']);
    }
  });
});

describe('push migrate --down', () => {
  it('refuses while events are unfinished, saying how many; --print-sql shows the drops; --force drops them', async () => {
    await asRoot([
      "INSERT INTO orders (id, patient_id, status) VALUES (1, 98, 'PAYING'), (2, 99, 'PAYING')",
      "UPDATE orders SET status = 'AWAITING_ACCEPT'",
    ]);

    const refused = await runCli(['migrate', '--down'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('2 event(s) in order_events are not finished');
    expect(refused.stderr).toContain('push migrate --down --force');
    expect(refused.stderr).not.toContain('    at ');

    const script = await push(['migrate', '--down', '--print-sql']);
    expect(script).toContain('-- 2 unfinished event(s) in order_events would be dropped');
    const printed = statementsOf(script);
    expect(printed).toEqual([
      'SET SESSION lock_wait_timeout = 2',
      'DROP TABLE IF EXISTS `push_outcomes`',
      'DROP TABLE IF EXISTS `push_attempts`',
      `DROP TRIGGER IF EXISTS \`${TRIGGER_NAME}\``,
      'DROP TABLE IF EXISTS `order_events`',
    ]);

    const since = await now();
    const forced = await push(['migrate', '--down', '--force']);
    expect(forced).toContain('dropped 2 unfinished event(s) (--force)');
    sameStatements(printed, await changesSentSince(since));
    expect(await serverColumns(['order_events', 'push_attempts', 'push_outcomes'])).toEqual([]);
  });
});
