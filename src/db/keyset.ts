/**
 * Keyset pagination: "rows after this one" in an index's order, for loops that walk a range
 * page by page (retention, reconciliation) without reading again what they passed over.
 * `(a, b) > (?, ?)` says it in one line, but MariaDB and MySQL turn a row comparison into an
 * index range only in some versions; the nested OR form is read as a range by all of them.
 */
import type { Knex } from 'knex';

/**
 * `AND (c1 > ? OR (c1 = ? AND (c2 > ? OR (c2 = ? AND c3 > ?))))` and its bindings, for
 * columns in index order and the last row's values; '' and [] for the first page.
 */
export function afterRow(
  columns: readonly string[],
  last: readonly Knex.Value[] | undefined,
): [sql: string, bindings: Knex.Value[]] {
  if (!last) return ['', []];
  const build = (i: number): [string, Knex.Value[]] => {
    const column = columns[i];
    const value = last[i] ?? null;
    if (i === columns.length - 1) return [`${column} > ?`, [value]];
    const [rest, restValues] = build(i + 1);
    return [`(${column} > ? OR (${column} = ? AND ${rest}))`, [value, value, ...restValues]];
  };
  const [sql, bindings] = build(0);
  return [`AND ${sql}`, bindings];
}
