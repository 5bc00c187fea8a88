/**
 * The poller claims with `SELECT … FOR UPDATE SKIP LOCKED`, which MySQL has since 8.0.1 and
 * MariaDB since 10.6; an older server answers the claim with a syntax error.
 */
import type { Knex } from 'knex';
import { parseServerVersion, type ServerVersion } from '../db/server-version.js';
import { fail, ok, warn, type CheckResult } from './check-result.js';

const CHECK = 'server version';

const MINIMUM: Record<ServerVersion['flavor'], [number, number, number]> = {
  MySQL: [8, 0, 1],
  MariaDB: [10, 6, 0],
};

export function judgeServerVersion(version: string): CheckResult {
  const parsed = parseServerVersion(version);
  const needs = 'SKIP LOCKED needs MySQL ≥ 8.0.1 or MariaDB ≥ 10.6';
  if (!parsed) {
    return warn(
      CHECK,
      `cannot tell which server "${version}" is`,
      `make sure it is a server where ${needs}`,
    );
  }
  const minimum = MINIMUM[parsed.flavor];
  const have = [parsed.major, parsed.minor, parsed.patch];
  const recent = compare(have, minimum) >= 0;
  const shown = `${parsed.flavor} ${have.join('.')}`;
  if (recent) return ok(CHECK, `${shown} (${needs})`);
  return fail(
    CHECK,
    `${shown} is too old: the poller's claim uses SELECT … FOR UPDATE SKIP LOCKED, which it lacks`,
    `upgrade to ${parsed.flavor} ${minimum.join('.')} or later (${needs})`,
  );
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export async function checkServerVersion(knex: Knex): Promise<CheckResult> {
  const [rows] = (await knex.raw('SELECT VERSION() AS version')) as [{ version: string }[]];
  return judgeServerVersion(rows[0]?.version ?? '');
}
