/**
 * The columns of push's tables that hold a copy of an `orders` column, and what each must be
 * so that every value the order service can store fits: the trigger writes them in the order
 * service's own transaction, so a value that does not fit fails the order's UPDATE in strict
 * SQL mode (error 1406 or 1264, RDS's default) or is cut silently without it.
 *
 * Read from information_schema.COLUMNS at migrate time, for the configured column names:
 *
 * - ids (`order_id`, `patient_id`, `nurse_id`): BIGINT with the orders column's signedness,
 *   whatever integer it is. An orders id that is INT today and BIGINT next year (the usual
 *   widening) then still fits, and changing an integer column's type is a table copy.
 * - statuses and reasons: VARCHAR in utf8mb4, which holds every character of every other
 *   character set, at least as long as the orders column (CHAR, VARCHAR, ENUM or SET) and at
 *   least 64 characters. 64 × 4 bytes needs a two-byte length, and a VARCHAR can be widened
 *   in place (metadata only, no lock on writes) only while it keeps its number of length
 *   bytes: from 64 characters on, any later widening is online.
 *
 * When `orders` changes after migrating (drift), a column that no longer holds every value is
 * widened by the next `push migrate` (never narrowed: the outbox may hold longer values),
 * online where the server can (`ALGORITHM=INPLACE, LOCK=NONE`); the trigger cuts a status or
 * reason longer than the outbox holds (order-trigger.ts), so until then order writes succeed.
 */
import type { MigrationContext } from './migration-context.js';
import { MigrationError } from './migration-error.js';
import type { ReadSql } from './schema-session.js';

type OrderColumn = keyof MigrationContext['orderColumns'];

interface CopiedColumn {
  table: 'outbox' | 'attempts' | 'outcomes';
  column: string;
  source: OrderColumn;
  kind: ColumnType['kind'];
  nullable: boolean;
}

const COPIED: readonly CopiedColumn[] = [
  { table: 'outbox', column: 'order_id', source: 'id', kind: 'integer', nullable: false },
  { table: 'outbox', column: 'patient_id', source: 'patientId', kind: 'integer', nullable: true },
  { table: 'outbox', column: 'nurse_id', source: 'nurseId', kind: 'integer', nullable: true },
  { table: 'outbox', column: 'from_status', source: 'status', kind: 'text', nullable: true },
  { table: 'outbox', column: 'to_status', source: 'status', kind: 'text', nullable: true },
  { table: 'outbox', column: 'from_reason', source: 'statusReason', kind: 'text', nullable: true },
  { table: 'outbox', column: 'to_reason', source: 'statusReason', kind: 'text', nullable: true },
  // The delivery trace and the outcomes name the order too (written by push, not the trigger).
  { table: 'attempts', column: 'order_id', source: 'id', kind: 'integer', nullable: false },
  { table: 'outcomes', column: 'order_id', source: 'id', kind: 'integer', nullable: false },
];

/** A new text column's least length: 64 × 4 bytes takes a two-byte length (see above). */
const FRESH_MIN_CHARS = 64;
/** utf8mb4: up to 63 characters (252 bytes) a VARCHAR has a one-byte length. */
const ONE_LENGTH_BYTE_CHARS = 63;
/** Four such columns must fit MySQL's 65,535-byte row; nobody's status is longer. */
const MAX_TEXT_CHARS = 1024;
const TEXT_CHARSET = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci';

type ColumnType =
  | { kind: 'integer'; columnType: string; min: bigint; max: bigint; unsigned: boolean }
  | { kind: 'text'; columnType: string; chars: number; charset: string | null };

export interface ColumnPlan {
  table: string;
  column: string;
  /** `orders`.`status`, as the messages name it. */
  source: string;
  sourceType: ColumnType;
  /** undefined while the push table does not exist (it is created with `definition`). */
  current: ColumnType | undefined;
  /**
   * What to create or widen it to, for CREATE TABLE or ALTER TABLE … MODIFY, nullability
   * included; for a column that already holds every value, its type as it is.
   */
  definition: string;
  /** Characters the column holds after this run's online changes (text only): what the trigger cuts to. */
  chars: number | undefined;
  /** Set when the existing column cannot hold every value of its orders column. */
  widen?: { online: boolean; why: string };
}

export interface CopiedColumnsPlan {
  columns: ColumnPlan[];
  /** Characters the outbox keeps of a status and of a reason; the trigger cuts longer ones. */
  clip: { status: number; reason: number };
  definition(table: string, column: string): string;
}

interface ColumnRow {
  tableName: string;
  name: string;
  dataType: string;
  columnType: string;
  chars: number | string | null;
  charset: string | null;
}

export async function planCopiedColumns(
  read: ReadSql,
  ctx: MigrationContext,
): Promise<CopiedColumnsPlan> {
  const tables = {
    outbox: ctx.outboxTable,
    attempts: ctx.attemptsTable,
    outcomes: ctx.outcomesTable,
  };
  const rows = await read<ColumnRow>(
    `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name, DATA_TYPE AS dataType,
            COLUMN_TYPE AS columnType, CHARACTER_MAXIMUM_LENGTH AS chars,
            CHARACTER_SET_NAME AS charset
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?, ?, ?)`,
    [ctx.ordersTable, tables.outbox, tables.attempts, tables.outcomes],
  );
  const columnsOf = (table: string) =>
    new Map(
      rows
        .filter((r) => r.tableName.toLowerCase() === table.toLowerCase())
        .map((r) => [r.name.toLowerCase(), r]),
    );
  const orders = columnsOf(ctx.ordersTable);
  assertOrdersColumns(orders, ctx);

  const columns = COPIED.map((copied): ColumnPlan => {
    const table = tables[copied.table];
    const sourceName = ctx.orderColumns[copied.source];
    const source = `\`${ctx.ordersTable}\`.\`${sourceName}\``;
    const sourceType = typeOf(orders.get(sourceName.toLowerCase())!, source);
    if (sourceType.kind !== copied.kind) throw unsupportedType(source, sourceType.columnType);
    const existing = columnsOf(table);
    const currentRow = existing.get(copied.column);
    if (existing.size > 0 && !currentRow) {
      throw new MigrationError(
        `\`${table}\` has no column \`${copied.column}\` (dropped by hand?): restore it, or ` +
          `drop \`${table}\` (losing its rows) and run \`push migrate\` again`,
      );
    }
    const current = currentRow && typeOf(currentRow, `\`${table}\`.\`${copied.column}\``);
    const plan = { table, column: copied.column, source, sourceType, current };
    const nullability = copied.nullable ? 'NULL' : 'NOT NULL';
    if (current && holdsEvery(current, sourceType)) {
      return {
        ...plan,
        definition: `${current.columnType} ${nullability}`,
        chars: charsOf(current),
      };
    }
    if (sourceType.kind === 'integer') {
      const definition = `BIGINT${sourceType.unsigned ? ' UNSIGNED' : ''} ${nullability}`;
      if (!current) return { ...plan, definition, chars: undefined };
      return {
        ...plan,
        definition,
        chars: undefined,
        // Any change of an integer column's type rewrites the table.
        widen: {
          online: false,
          why: `${current.columnType} cannot hold every ${sourceType.columnType}`,
        },
      };
    }
    const chars = current
      ? sourceType.chars <= ONE_LENGTH_BYTE_CHARS
        ? ONE_LENGTH_BYTE_CHARS
        : sourceType.chars
      : Math.max(sourceType.chars, FRESH_MIN_CHARS);
    const definition = `VARCHAR(${chars}) ${TEXT_CHARSET} ${nullability}`;
    if (!current) return { ...plan, definition, chars };
    // In place only within one character set and one number of length bytes.
    const oneLengthByteNow = current.kind === 'text' && current.chars <= ONE_LENGTH_BYTE_CHARS;
    const oneLengthByteAfter = chars <= ONE_LENGTH_BYTE_CHARS;
    const online =
      current.kind === 'text' &&
      current.charset === 'utf8mb4' &&
      oneLengthByteNow === oneLengthByteAfter;
    return {
      ...plan,
      definition,
      // Not widened by this run unless online: the trigger must cut to what it holds now.
      chars: online ? chars : charsOf(current),
      widen: { online, why: `${current.columnType} is narrower than ${sourceType.columnType}` },
    };
  });

  const outboxChars = (...names: string[]) =>
    Math.min(
      ...columns
        .filter((c) => c.table === tables.outbox && names.includes(c.column))
        .map((c) => c.chars ?? FRESH_MIN_CHARS),
    );
  return {
    columns,
    clip: {
      status: outboxChars('from_status', 'to_status'),
      reason: outboxChars('from_reason', 'to_reason'),
    },
    definition(table, column) {
      const found = columns.find((c) => c.table === table && c.column === column);
      if (!found) throw new Error(`no copied column ${table}.${column}`);
      return found.definition;
    },
  };
}

/** What goes wrong while `column` cannot hold every value of its orders column. */
export function driftEffect(column: ColumnPlan, ctx: MigrationContext): string {
  if (column.sourceType.kind === 'text') {
    return "a longer value is recorded cut short (ending in '~') and matches no scenario";
  }
  if (column.table === ctx.outboxTable) {
    return 'an order UPDATE that writes a value outside its range FAILS (strict SQL mode)';
  }
  return column.table === ctx.outcomesTable
    ? "the poller cannot record such an order's pushes as owed, so it cannot hand them off"
    : "the delivery trace cannot record such an order's attempts";
}

/**
 * The statements that widen what the plan says must be widened and can be online, one per
 * table (one metadata lock each). INPLACE with LOCK=NONE makes the server refuse rather than
 * block writes if it cannot do it that way after all.
 */
export function onlineWideningSql(plan: CopiedColumnsPlan): string[] {
  return alterSql(plan, (c) => c.widen?.online === true, 'ALGORITHM=INPLACE, LOCK=NONE');
}

/** The same for changes the server can only make by copying the table: for a DBA's quiet hour. */
export function tableCopySql(plan: CopiedColumnsPlan): string[] {
  return alterSql(plan, (c) => c.widen?.online === false, 'ALGORITHM=COPY, LOCK=SHARED');
}

function alterSql(
  plan: CopiedColumnsPlan,
  include: (column: ColumnPlan) => boolean,
  how: string,
): string[] {
  const byTable = new Map<string, ColumnPlan[]>();
  for (const column of plan.columns.filter(include)) {
    byTable.set(column.table, [...(byTable.get(column.table) ?? []), column]);
  }
  return [...byTable].map(
    ([table, columns]) =>
      `ALTER TABLE \`${table}\` ${columns.map((c) => `MODIFY \`${c.column}\` ${c.definition}`).join(', ')}, ${how}`,
  );
}

function assertOrdersColumns(orders: Map<string, ColumnRow>, ctx: MigrationContext): void {
  if (orders.size === 0) {
    throw new MigrationError(
      `table \`${ctx.ordersTable}\` does not exist in this database: push adds its trigger to ` +
        "the order service's orders table (set ORDERS_TABLE if it has another name)",
    );
  }
  for (const column of Object.values(ctx.orderColumns)) {
    if (!orders.has(column.toLowerCase())) {
      throw new MigrationError(
        `table \`${ctx.ordersTable}\` has no column \`${column}\`; push's trigger reads ` +
          `${Object.values(ctx.orderColumns).join(', ')} (SPEC §2)`,
      );
    }
  }
}

const INTEGER_BITS: Record<string, number> = {
  tinyint: 8,
  smallint: 16,
  mediumint: 24,
  int: 32,
  bigint: 64,
};
const TEXT_TYPES = new Set(['char', 'varchar', 'enum', 'set']);

function typeOf(row: ColumnRow, name: string): ColumnType {
  const dataType = row.dataType.toLowerCase();
  const columnType = row.columnType.toLowerCase();
  const bits = INTEGER_BITS[dataType];
  if (bits !== undefined) {
    const unsigned = /\bunsigned\b/.test(columnType);
    const span = 1n << BigInt(bits);
    return unsigned
      ? { kind: 'integer', columnType, min: 0n, max: span - 1n, unsigned }
      : { kind: 'integer', columnType, min: -(span / 2n), max: span / 2n - 1n, unsigned };
  }
  const chars = Number(row.chars);
  if (TEXT_TYPES.has(dataType) && row.charset !== 'binary' && chars <= MAX_TEXT_CHARS) {
    return { kind: 'text', columnType, chars, charset: row.charset };
  }
  throw unsupportedType(name, columnType);
}

function unsupportedType(name: string, columnType: string): MigrationError {
  return new MigrationError(
    `${name} is ${columnType}: push copies ids of an integer type and statuses and reasons of ` +
      `CHAR, VARCHAR, ENUM or SET up to ${MAX_TEXT_CHARS} characters (not binary)`,
  );
}

function holdsEvery(column: ColumnType, source: ColumnType): boolean {
  if (column.kind === 'integer' && source.kind === 'integer') {
    return column.min <= source.min && column.max >= source.max;
  }
  if (column.kind === 'text' && source.kind === 'text') {
    const charsetHolds = column.charset === 'utf8mb4' || column.charset === source.charset;
    return charsetHolds && column.chars >= source.chars;
  }
  return false;
}

function charsOf(column: ColumnType): number | undefined {
  return column.kind === 'text' ? column.chars : undefined;
}
