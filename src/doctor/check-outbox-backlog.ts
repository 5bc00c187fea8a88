/**
 * Events waiting for a poller, and how long the oldest has waited. A healthy poller
 * claims every POLL_INTERVAL_MS (5 ms by default) up to 500 rows at a time, so the
 * oldest unclaimed event is normally well under a second old: a minute means the pollers
 * are behind or stopped, ten minutes means patients are waiting for news.
 */
import type { Knex } from 'knex';
import { OUTBOX_TABLE } from '../db/migration-context.js';
import { countUnclaimed, oldestUnclaimedAgeSeconds } from '../outbox/read-backlog.js';
import { fail, ok, warn, type CheckResult } from './check-result.js';

const CHECK = 'outbox backlog';
export const LAG_WARN_MS = 60_000;
export const LAG_FAIL_MS = 10 * 60_000;
/** Counting stops here: a count of millions would scan millions of index entries. */
const COUNT_CAP = 100_000;

export async function checkOutboxBacklog(knex: Knex): Promise<CheckResult> {
  let count: number;
  let ageMs: number | undefined;
  try {
    count = await countUnclaimed(knex, COUNT_CAP);
    const ageSeconds = await oldestUnclaimedAgeSeconds(knex);
    ageMs = ageSeconds === undefined ? undefined : Math.floor(ageSeconds * 1000);
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') {
      return fail(CHECK, `table ${OUTBOX_TABLE} does not exist`, 'run `npx push migrate`');
    }
    throw err;
  }

  if (count === 0 || ageMs === undefined) return ok(CHECK, 'no events waiting for a poller');
  const shownCount = count > COUNT_CAP ? `more than ${COUNT_CAP}` : String(count);
  const summary = `${shownCount} event(s) waiting for a poller, the oldest for ${describeAge(ageMs)}`;
  const fix =
    'make sure `push start` runs with the poller role (ROLES) and can reach MySQL and Redis; ' +
    'its log says why it does not claim';
  if (ageMs >= LAG_FAIL_MS) return fail(CHECK, summary, fix);
  if (ageMs >= LAG_WARN_MS) return warn(CHECK, summary, fix);
  return ok(CHECK, summary);
}

export function describeAge(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
