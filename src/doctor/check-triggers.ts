/**
 * The trigger on orders is the only way events enter the outbox: if it is missing or
 * differs from what the migrations define (edited by hand, left by an older version,
 * created for other column names), status changes go unrecorded and nobody is told.
 * Compares information_schema.TRIGGERS with the body of triggerSql(ctx), whitespace aside.
 */
import type { Knex } from 'knex';
import { TRIGGER_NAME, triggerSql } from '../../migrations/20261126_002_order_triggers.js';
import type { MigrationContext } from '../db/migration-context.js';
import { fail, ok, type CheckResult } from './check-result.js';

const CHECK = 'trigger';
const TRIGGER_MIGRATION = '20261126_002_order_triggers';
const MIGRATIONS_TABLE = 'push_migrations';

interface TriggerRow {
  name: string;
  event: string;
  timing: string;
  tableName: string;
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
            EVENT_OBJECT_TABLE AS tableName, ACTION_STATEMENT AS body
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
      (await migrationApplied(knex))
        ? `the migrations were applied, so \`push migrate\` will not recreate it; create it with the mysql client:\n${manualTriggerSql(ctx)}`
        : 'run `npx push migrate`',
      notes,
    );
  }

  const problems: string[] = [];
  if (ours.tableName !== ctx.ordersTable)
    problems.push(`it is on \`${ours.tableName}\`, not \`${ctx.ordersTable}\``);
  if (ours.timing !== 'AFTER' || ours.event !== 'UPDATE') {
    problems.push(`it runs ${ours.timing} ${ours.event}, not AFTER UPDATE`);
  }
  const expected = expectedBody(ctx);
  if (ours.body === null) {
    problems.push('its body cannot be read (information_schema shows NULL)');
  } else if (normalize(ours.body) !== normalize(expected)) {
    problems.push(`its body differs from the migration's: ${firstDifference(ours.body, expected)}`);
  }
  if (problems.length === 0) {
    return ok(
      CHECK,
      `${TRIGGER_NAME} on \`${ctx.ordersTable}\` is as the migrations define it`,
      notes,
    );
  }
  return fail(
    CHECK,
    `trigger ${TRIGGER_NAME} is not what the migrations define (edited by hand, an older version, or other ORDER_COLUMNS)`,
    'replace it with the mysql client, at a quiet moment (status changes between the DROP and the ' +
      `CREATE are not recorded):\n${manualTriggerSql(ctx)}`,
    [...problems, ...notes],
  );
}

/** What follows `FOR EACH ROW` in the CREATE TRIGGER statement: what ACTION_STATEMENT holds. */
export function expectedBody(ctx: MigrationContext): string {
  const sql = triggerSql(ctx);
  const marker = 'FOR EACH ROW';
  return sql.slice(sql.indexOf(marker) + marker.length).trim();
}

/** DROP and CREATE as the mysql command-line client takes them (BEGIN … END needs DELIMITER). */
export function manualTriggerSql(ctx: MigrationContext): string {
  return [
    `DROP TRIGGER IF EXISTS \`${TRIGGER_NAME}\`;`,
    'DELIMITER ;;',
    `${triggerSql(ctx)};;`,
    'DELIMITER ;',
  ].join('\n');
}

function normalize(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

/** Where the two bodies part, with some text either side: enough to recognise the edit. */
function firstDifference(actual: string, expected: string): string {
  const a = normalize(actual);
  const e = normalize(expected);
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  const from = Math.max(0, i - 20);
  const excerpt = (text: string) =>
    `${from > 0 ? '…' : ''}${text.slice(from, i + 40)}${text.length > i + 40 ? '…' : ''}`;
  return `expected "${excerpt(e)}", found "${excerpt(a)}"`;
}

async function migrationApplied(knex: Knex): Promise<boolean> {
  try {
    const row = (await knex(MIGRATIONS_TABLE)
      .where({ name: TRIGGER_MIGRATION })
      .first()) as unknown;
    return row !== undefined;
  } catch {
    return false; // no migrations table yet
  }
}
