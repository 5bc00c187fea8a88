/**
 * What every `push migrate` does after the migrations, even when none is pending: bring
 * push's copies of `orders` columns and the trigger in line with `orders` as it is now. The
 * order service may widen a column at any time (drift); `push doctor` names it, and this
 * step fixes it without losing events: columns are only ever widened, online where the
 * server can (ALGORITHM=INPLACE, LOCK=NONE: a metadata lock at start and end, bounded like
 * every change, no lock on writes while it runs), and then the trigger is replaced without a
 * gap to cut values at the new width.
 *
 * A widening the server can only do by copying the table is not done: the copy would block
 * every UPDATE on `orders` (the trigger writes the outbox) for as long as it runs. It is
 * returned as a problem with the statement for a DBA's quiet hour; the trigger keeps cutting
 * values to the width the column has, so order writes go on succeeding meanwhile.
 */
import {
  driftEffect,
  onlineWideningSql,
  planCopiedColumns,
  tableCopySql,
  type ColumnPlan,
} from './copied-columns.js';
import type { MigrationContext } from './migration-context.js';
import { MigrationError } from './migration-error.js';
import { installTrigger } from './order-trigger.js';
import type { SchemaSession } from './schema-session.js';

/** MySQL/MariaDB: the ALGORITHM/LOCK asked for is not possible for this change. */
const ALTER_NOT_ONLINE = new Set([1845, 1846]);

const alignments = new WeakMap<SchemaSession, Promise<string[]>>();

/**
 * Returns the problems left for a person (empty when all is in line). Runs once per session:
 * the trigger's migration, a later one and the step after the migrations all ask for it, and
 * in print mode the server could not tell that it was already done.
 */
export function alignWithOrders(db: SchemaSession, ctx: MigrationContext): Promise<string[]> {
  let alignment = alignments.get(db);
  if (!alignment) {
    alignment = align(db, ctx);
    alignments.set(db, alignment);
  }
  return alignment;
}

async function align(db: SchemaSession, ctx: MigrationContext): Promise<string[]> {
  const plan = await planCopiedColumns(db.read, ctx);
  for (const sql of onlineWideningSql(plan)) {
    try {
      await db.change(sql);
    } catch (err) {
      if (!ALTER_NOT_ONLINE.has((err as { errno?: number }).errno ?? 0)) throw err;
      // Predicted online, refused by the server: stop before the trigger cuts at the new width.
      throw new MigrationError(
        `${(err as Error).message}\n${tableCopyAdvice(
          ctx,
          plan.columns.filter((c) => c.widen),
          sql.replace('ALGORITHM=INPLACE, LOCK=NONE', 'ALGORITHM=COPY, LOCK=SHARED'),
        )}`,
        { cause: err },
      );
    }
  }
  await installTrigger(db, ctx, plan.clip);
  const copies = tableCopySql(plan);
  if (copies.length === 0) return [];
  const needCopy = plan.columns.filter((c) => c.widen?.online === false);
  return [tableCopyAdvice(ctx, needCopy, ...copies)];
}

function tableCopyAdvice(
  ctx: MigrationContext,
  columns: ColumnPlan[],
  ...statements: string[]
): string {
  return [
    ...columns.map(
      (c) =>
        `\`${c.table}\`.\`${c.column}\`: ${c.widen?.why} (${c.source}), and cannot be widened in ` +
        `place; meanwhile ${driftEffect(c, ctx)}.`,
    ),
    'The server can change it only by copying the table, which blocks every UPDATE on the orders ' +
      'table while it runs (the trigger writes the outbox), so push does not do it on its own.',
    'At a quiet moment, run (its time grows with the rows the table holds):',
    ...statements.map((sql) => `  ${sql};`),
    'then `push migrate` again.',
  ].join('\n');
}
