/**
 * MariaDB's work per delivered push, from SHOW GLOBAL STATUS before and after a run:
 * statements (Questions, Com_*) and row operations (Handler_*). The benchmark's private
 * server only, where the pipeline is the only client; the benchmark's own two reads are
 * left in (two statements per run, nothing per push).
 */
import type { Knex } from 'knex';

const COUNTERS =
  /^(Questions|Com_(select|insert|update|delete|commit|begin|rollback)|Handler_(read_\w+|write|update|delete|commit|prepare))$/;

export type MysqlStatus = Record<string, number>;

export async function readMysqlStatus(knex: Knex): Promise<MysqlStatus> {
  const [rows] = (await knex.raw('SHOW GLOBAL STATUS')) as [
    Array<{ Variable_name: string; Value: string }>,
  ];
  const status: MysqlStatus = {};
  for (const row of rows)
    if (COUNTERS.test(row.Variable_name)) status[row.Variable_name] = Number(row.Value);
  return status;
}

/** Each counter's increase per delivered push, the non-zero ones. */
export function statusPerPush(
  before: MysqlStatus,
  after: MysqlStatus,
  pushes: number,
): MysqlStatus {
  const perPush: MysqlStatus = {};
  for (const [name, value] of Object.entries(after)) {
    const delta = value - (before[name] ?? 0);
    if (delta > 0) perPush[name] = Math.round((delta / pushes) * 1000) / 1000;
  }
  return perPush;
}
