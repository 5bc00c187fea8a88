/**
 * Reads `SHOW GRANTS` output into privileges per scope, for the MySQL 8 and MariaDB
 * spellings:
 *
 *   GRANT USAGE ON *.* TO `push_app`@`%` IDENTIFIED BY PASSWORD '*…'     (MariaDB)
 *   GRANT SELECT, INSERT, TRIGGER ON `app`.* TO `push_app`@`%`
 *   GRANT ALL PRIVILEGES ON `app\_%`.* TO 'push_app'@'%' WITH GRANT OPTION
 *   GRANT SET_USER_ID,SYSTEM_VARIABLES_ADMIN ON *.* TO `u`@`%`            (MySQL 8 dynamic)
 *   GRANT SELECT (`id`, `name`) ON `app`.`nurses` TO …                      (column level)
 *   GRANT `reporting`@`%`,`r2`@`%` TO `push_app`@`%` WITH ADMIN OPTION     (MySQL 8 roles)
 *   GRANT `reporting` TO `push_app`@`%`                                    (MariaDB role)
 *   REVOKE INSERT ON `app`.* FROM `u`@`%`                (MySQL 8 partial revoke)
 *   SET DEFAULT ROLE `reporting` FOR `push_app`@`%`                        (MariaDB; skipped)
 *
 * Only global (`*.*`) and database (`db.*`) grants cover a whole database; table and
 * column grants are kept apart so the doctor can mention them without counting them.
 * MySQL 8 lists every global privilege by name instead of ALL PRIVILEGES.
 */
export interface GrantScope {
  /** Unquoted; `*` for global. A database-level name may hold LIKE wildcards (`app\_%`). */
  database: string;
  /** `*` for every table of the database. */
  table: string;
  /** Upper case, one space between words; `ALL PRIVILEGES` for ALL. */
  privileges: ReadonlySet<string>;
}

export interface ParsedGrants {
  scopes: GrantScope[];
  /**
   * MySQL 8 partial revokes (partial_revokes=ON): global privileges taken back on one
   * database, whose name here is literal, not a pattern.
   */
  revokes: GrantScope[];
  /**
   * Roles granted to the account, unquoted: `r@%` (MySQL) or `r` (MariaDB). Their privileges
   * show only when SHOW GRANTS expands them (check-grants.ts asks for the active ones).
   */
  roles: string[];
}

const NAME = '(?:`(?:[^`]|``)*`|[^\\s.`]+)';
const GRANT_ON = new RegExp(
  `^GRANT\\s+(.+?)\\s+ON\\s+(?:TABLE\\s+)?(\\*|${NAME})\\.(\\*|${NAME})\\s+TO\\s`,
  'i',
);
const REVOKE_ON = new RegExp(
  `^REVOKE\\s+(.+?)\\s+ON\\s+(?:TABLE\\s+)?(\\*|${NAME})\\.(\\*|${NAME})\\s+FROM\\s`,
  'i',
);
const GRANT_ROLE = /^GRANT\s+(.+?)\s+TO\s/i;

export function parseGrants(lines: readonly string[]): ParsedGrants {
  const scopes: GrantScope[] = [];
  const revokes: GrantScope[] = [];
  const roles: string[] = [];
  for (const line of lines) {
    const text = line.trim();
    const on = GRANT_ON.exec(text) ?? REVOKE_ON.exec(text);
    if (on) {
      (/^REVOKE/i.test(text) ? revokes : scopes).push({
        database: unquote(on[2] ?? ''),
        table: unquote(on[3] ?? ''),
        privileges: new Set(splitPrivileges(on[1] ?? '')),
      });
      continue;
    }
    // FUNCTION / PROCEDURE / PROXY grants have ON but no db.table: not ours to count.
    if (/\sON\s/i.test(text)) continue;
    const role = GRANT_ROLE.exec(text);
    if (role) roles.push(...parseRoleList(role[1] ?? ''));
  }
  return { scopes, revokes, roles };
}

/**
 * A list of roles as SHOW GRANTS and CURRENT_ROLE() write it, unquoted:
 * `` `r1`@`%`,`r2`@`%` `` (MySQL) → ['r1@%', 'r2@%']; `` `r1` `` or `r1` (MariaDB) → ['r1'].
 */
export function parseRoleList(list: string): string[] {
  return splitOutsideQuotes(list)
    .filter((item) => item !== '')
    .map((item) =>
      item.replace(
        /`((?:[^`]|``)*)`|'((?:[^']|'')*)'/g,
        (_, backticked?: string, quoted?: string) =>
          backticked !== undefined
            ? backticked.replace(/``/g, '`')
            : (quoted ?? '').replace(/''/g, "'"),
      ),
    );
}

/**
 * Privileges that hold on every table of `database`, from global and database grants, less
 * what partial revokes take back there.
 */
export function privilegesOnDatabase(grants: ParsedGrants, database: string): Set<string> {
  const held = new Set<string>();
  for (const scope of grants.scopes) {
    if (scope.table !== '*') continue;
    if (scope.database !== '*' && !likeMatches(scope.database, database)) continue;
    for (const privilege of scope.privileges) held.add(privilege);
  }
  for (const revoke of grants.revokes) {
    if (revoke.table !== '*' || revoke.database !== database) continue;
    for (const privilege of revoke.privileges) held.delete(privilege);
  }
  return held;
}

export function hasGlobalPrivilege(grants: ParsedGrants, privilege: string): boolean {
  return grants.scopes.some(
    (scope) =>
      scope.database === '*' &&
      (scope.privileges.has(privilege) || scope.privileges.has('ALL PRIVILEGES')),
  );
}

/** Grants on single tables or columns of `database`: shown, not counted. */
export function tableGrantsIn(grants: ParsedGrants, database: string): GrantScope[] {
  return grants.scopes.filter((scope) => scope.table !== '*' && scope.database === database);
}

/** `SELECT (id, name), INSERT` → [INSERT]: column-level privileges do not cover a table. */
function splitPrivileges(list: string): string[] {
  return splitOutsideQuotes(list)
    .map((item) => item.replace(/\s+/g, ' ').toUpperCase())
    .filter((item) => item !== '' && !item.includes('('))
    .map((item) => (item === 'ALL' ? 'ALL PRIVILEGES' : item));
}

/**
 * Splits at commas outside parentheses and quotes (`` ` `` and `'`), trimming each item:
 * column lists and quoted names may hold commas of their own.
 */
function splitOutsideQuotes(list: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = '';
  for (const char of list) {
    if (quote) {
      // A doubled quote inside a name closes and reopens: the text stays the same.
      if (char === quote) quote = undefined;
    } else if (char === '`' || char === "'") {
      quote = char;
    } else if (char === '(') {
      depth += 1;
    } else if (char === ')') {
      depth -= 1;
    } else if (char === ',' && depth === 0) {
      items.push(current.trim());
      current = '';
      continue;
    }
    current += char;
  }
  items.push(current.trim());
  return items;
}

function unquote(name: string): string {
  return name.startsWith('`') ? name.slice(1, -1).replace(/``/g, '`') : name;
}

/** Database names in grants are LIKE patterns: `%` any run, `_` one character, `\` escapes. */
function likeMatches(pattern: string, name: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] ?? '';
    if (char === '\\' && i + 1 < pattern.length) {
      regex += escapeRegex(pattern[++i] ?? '');
    } else if (char === '%') {
      regex += '.*';
    } else if (char === '_') {
      regex += '.';
    } else {
      regex += escapeRegex(char);
    }
  }
  return new RegExp(`^${regex}$`, 's').test(name);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
