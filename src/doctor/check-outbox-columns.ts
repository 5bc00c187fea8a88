/**
 * Drift: the order service widened a column of `orders` after push migrated, and push's
 * copy of it can no longer hold every value. For a status or reason, a longer value is then
 * recorded cut short (the trigger ends it in '~') and matches no scenario; for an id, an
 * order UPDATE writing a value outside the copy's range fails. `push migrate` widens the
 * copy (online where the server can, src/db/align-with-orders.ts).
 */
import type { Knex } from 'knex';
import { driftEffect, planCopiedColumns, tableCopySql } from '../db/copied-columns.js';
import type { MigrationContext } from '../db/migration-context.js';
import { readerOf } from '../db/schema-session.js';
import { fail, ok, type CheckResult } from './check-result.js';

const CHECK = 'outbox columns';

export async function checkOutboxColumns(knex: Knex, ctx: MigrationContext): Promise<CheckResult> {
  const plan = await planCopiedColumns(readerOf(knex), ctx);
  const present = plan.columns.filter((c) => c.current !== undefined);
  if (present.length === 0) {
    return ok(CHECK, `nothing to compare yet: \`${ctx.outboxTable}\` does not exist`);
  }
  const drifted = plan.columns.filter((c) => c.widen);
  if (drifted.length === 0) {
    return ok(
      CHECK,
      `push's copies of \`${ctx.ordersTable}\` columns hold every value they can have`,
    );
  }
  const details = drifted.map(
    (c) => `\`${c.table}\`.\`${c.column}\`: ${c.widen?.why} (${c.source}): ${driftEffect(c, ctx)}`,
  );
  const copies = tableCopySql(plan);
  const fix =
    copies.length === 0
      ? 'run `npx push migrate`: it widens them online (ALTER TABLE … ALGORITHM=INPLACE, LOCK=NONE) ' +
        'and replaces the trigger without a gap (`--print-sql` shows the statements first)'
      : [
          'only a table copy can widen some of them, and it blocks every UPDATE on orders while it runs;',
          'at a quiet moment run, then `npx push migrate`:',
          ...copies.map((sql) => `  ${sql};`),
        ].join('\n');
  return fail(
    CHECK,
    `\`${ctx.ordersTable}\` changed after migrating: ${drifted.map((c) => `${c.table}.${c.column}`).join(', ')} cannot hold every value`,
    fix,
    details,
  );
}
