/**
 * The trigger on orders is the only way events enter the outbox: if it is missing or
 * differs from what this version defines (edited by hand, left by an older version,
 * created for other column names or before `orders` was widened), status changes go
 * unrecorded or are cut shorter than they need be, and nobody is told. Compares
 * information_schema.TRIGGERS with triggerSql() for the columns as they are now.
 * `push migrate` puts it right, without a gap in recording (src/db/order-trigger.ts).
 */
import type { Knex } from 'knex';
import { planCopiedColumns } from '../db/copied-columns.js';
import type { MigrationContext } from '../db/migration-context.js';
import {
  isAsDefined,
  normalizeSql,
  triggerBodyOf,
  triggerSql,
  TRIGGER_NAME,
} from '../db/order-trigger.js';
import { readerOf } from '../db/schema-session.js';
import { fail, ok, type CheckResult } from './check-result.js';

const CHECK = 'trigger';
const MIGRATE_FIX =
  'run `npx push migrate`: it puts the trigger in place without a gap in recording ' +
  '(`npx push migrate --print-sql` shows the statements first)';

interface TriggerRow {
  name: string;
  event: string;
  timing: string;
  table: string;
  /** NULL (MariaDB) when the account lacks TRIGGER: the name shows, the body does not. */
  body: string | null;
}

export interface TriggerCheckOptions {
  /** Without the TRIGGER privilege, information_schema hides the triggers from this account. */
  canSeeTriggers: boolean;
}

export async function checkTriggers(
  knex: Knex,
  ctx: MigrationContext,
  options: TriggerCheckOptions,
): Promise<CheckResult> {
  const [rows] = (await knex.raw(
    `SELECT TRIGGER_NAME AS name, EVENT_MANIPULATION AS event, ACTION_TIMING AS timing,
            EVENT_OBJECT_TABLE AS \`table\`, ACTION_STATEMENT AS body
       FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = DATABASE() AND (TRIGGER_NAME = ? OR EVENT_OBJECT_TABLE = ?)`,
    [TRIGGER_NAME, ctx.ordersTable],
  )) as [TriggerRow[]];
  const ours = rows.find((row) => row.name === TRIGGER_NAME);
  const others = rows.filter((row) => row.name !== TRIGGER_NAME).map((row) => row.name);
  const notes =
    others.length > 0
      ? [`other triggers on \`${ctx.ordersTable}\` (not push's): ${others.join(', ')}`]
      : [];

  if ((!ours || ours.body === null) && !options.canSeeTriggers) {
    return fail(
      CHECK,
      `cannot check trigger ${TRIGGER_NAME}: information_schema shows triggers only to accounts with the TRIGGER privilege`,
      'grant TRIGGER (see the grants line), then run `npx push doctor` again',
      notes,
    );
  }
  if (!ours) {
    return fail(
      CHECK,
      `trigger ${TRIGGER_NAME} is missing on \`${ctx.ordersTable}\`: status changes are not recorded, so no push goes out`,
      MIGRATE_FIX,
      notes,
    );
  }

  const { clip } = await planCopiedColumns(readerOf(knex), ctx);
  if (ours.body !== null && isAsDefined({ ...ours, body: ours.body }, ctx, clip)) {
    return ok(
      CHECK,
      `${TRIGGER_NAME} on \`${ctx.ordersTable}\` is as this version defines it`,
      notes,
    );
  }
  const problems: string[] = [];
  if (ours.table !== ctx.ordersTable)
    problems.push(`it is on \`${ours.table}\`, not \`${ctx.ordersTable}\``);
  if (ours.timing !== 'AFTER' || ours.event !== 'UPDATE') {
    problems.push(`it runs ${ours.timing} ${ours.event}, not AFTER UPDATE`);
  }
  const expected = triggerBodyOf(triggerSql(ctx, clip));
  if (ours.body === null) {
    problems.push('its body cannot be read (information_schema shows NULL)');
  } else if (normalizeSql(ours.body) !== normalizeSql(expected)) {
    problems.push(`its body differs from this version's: ${firstDifference(ours.body, expected)}`);
  }
  return fail(
    CHECK,
    `trigger ${TRIGGER_NAME} is not what this version defines (edited by hand, an older version, other ORDER_COLUMNS, or \`${ctx.ordersTable}\` changed)`,
    MIGRATE_FIX,
    [...problems, ...notes],
  );
}

/** Where the two bodies part, with some text either side: enough to recognise the edit. */
function firstDifference(actual: string, expected: string): string {
  const a = normalizeSql(actual);
  const e = normalizeSql(expected);
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  const from = Math.max(0, i - 20);
  const excerpt = (text: string) =>
    `${from > 0 ? '…' : ''}${text.slice(from, i + 40)}${text.length > i + 40 ? '…' : ''}`;
  return `expected "${excerpt(e)}", found "${excerpt(a)}"`;
}
