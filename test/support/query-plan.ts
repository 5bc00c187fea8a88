// What a statement costs, read from the server: EXPLAIN's plan (which index, which access
// type) and the rows the storage engine really handed over for one table when the statement
// is run. MariaDB: `ANALYZE FORMAT=JSON` (r_rows per loop); MySQL 8 (the Docker path of the
// test setup): `EXPLAIN ANALYZE` (actual rows per loop).
import type { Knex } from 'knex';

export interface ExplainRow {
  table: string;
  type: string;
  key: string | null;
  rows: number | string;
  Extra: string | null;
}

export async function explain(
  knex: Knex,
  sql: string,
  bindings: readonly Knex.Value[],
): Promise<ExplainRow[]> {
  const [plan] = (await knex.raw(`EXPLAIN ${sql}`, [...bindings])) as [ExplainRow[]];
  return plan;
}

/** The plan's row for `table` (or alias); fails naming the plan when there is none. */
export function planFor(plan: ExplainRow[], table: string): ExplainRow {
  const row = plan.find((r) => r.table === table);
  if (!row) throw new Error(`no ${table} in the plan: ${JSON.stringify(plan)}`);
  return row;
}

/** Rows read from `table` (or its alias) when the statement runs, over all loops. */
export async function rowsRead(
  knex: Knex,
  sql: string,
  bindings: readonly Knex.Value[],
  table: string,
): Promise<number> {
  const [[{ version }]] = (await knex.raw('SELECT VERSION() AS version')) as [
    [{ version: string }],
  ];
  if (!/mariadb/i.test(version)) {
    const [[row]] = (await knex.raw(`EXPLAIN ANALYZE ${sql}`, [...bindings])) as [
      [Record<string, string>],
    ];
    const tree = Object.values(row ?? {})[0] ?? '';
    const access = tree.split('\n').find((line) => new RegExp(` on ${table}\\b`).test(line));
    const actual = access && /actual time=[^)]*rows=([\d.]+) loops=(\d+)/.exec(access);
    if (!actual) throw new Error(`no actual rows for ${table} in EXPLAIN ANALYZE:\n${tree}`);
    return Number(actual[1]) * Number(actual[2]);
  }
  const [[row]] = (await knex.raw(`ANALYZE FORMAT=JSON ${sql}`, [...bindings])) as [
    [{ ANALYZE: string }],
  ];
  const found = findTable(JSON.parse(row.ANALYZE) as unknown, table);
  if (!found || typeof found.r_rows !== 'number') {
    throw new Error(`no r_rows for ${table} in ANALYZE output: ${row.ANALYZE}`);
  }
  return found.r_rows * (typeof found.r_loops === 'number' ? found.r_loops : 1);
}

type TableNode = { table_name?: unknown; r_rows?: unknown; r_loops?: unknown };

function findTable(node: unknown, table: string): TableNode | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  const record = node as Record<string, unknown>;
  const candidate = record.table as TableNode | undefined;
  if (candidate && typeof candidate === 'object' && candidate.table_name === table) {
    return candidate;
  }
  for (const value of Object.values(record)) {
    const found = findTable(value, table);
    if (found) return found;
  }
  return undefined;
}
