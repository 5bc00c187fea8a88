/**
 * Reads `SHOW GRANTS FOR CURRENT_USER` into privileges per scope, for the MySQL 8 and
 * MariaDB spellings:
 *
 *   GRANT USAGE ON *.* TO `push_app`@`%` IDENTIFIED BY PASSWORD '*…'
 *   GRANT SELECT, INSERT, TRIGGER ON `app`.* TO `push_app`@`%`
 *   GRANT ALL PRIVILEGES ON `app\_%`.* TO 'push_app'@'%' WITH GRANT OPTION
 *   GRANT SELECT (id, name) ON `app`.`nurses` TO …      (column level)
 *   GRANT `reporting` TO `push_app`@`%`                  (a role)
 *
 * Only global (`*.*`) and database (`db.*`) grants cover a whole database; table and
 * column grants are kept apart so the doctor can mention them without counting them.
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
  /** Roles granted to the account: their privileges do not show in SHOW GRANTS FOR CURRENT_USER. */
  roles: string[];
}

const NAME = '(?:`(?:[^`]|``)*`|[^\\s.`]+)';
const GRANT_ON = new RegExp(
  `^GRANT\\s+(.+?)\\s+ON\\s+(?:TABLE\\s+)?(\\*|${NAME})\\.(\\*|${NAME})\\s+TO\\s`,
  'i',
);
const GRANT_ROLE = /^GRANT\s+(.+?)\s+TO\s/i;

export function parseGrants(lines: readonly string[]): ParsedGrants {
  const scopes: GrantScope[] = [];
  const roles: string[] = [];
  for (const line of lines) {
    const text = line.trim();
    const on = GRANT_ON.exec(text);
    if (on) {
      scopes.push({
        database: unquote(on[2] ?? ''),
        table: unquote(on[3] ?? ''),
        privileges: new Set(splitPrivileges(on[1] ?? '')),
      });
      continue;
    }
    // FUNCTION / PROCEDURE / PROXY grants have ON but no db.table: not ours to count.
    if (/\sON\s/i.test(text)) continue;
    const role = GRANT_ROLE.exec(text);
    if (role) roles.push(...(role[1] ?? '').split(',').map((r) => r.trim()));
  }
  return { scopes, roles };
}

/** Privileges that hold on every table of `database`, from global and database grants. */
export function privilegesOnDatabase(grants: ParsedGrants, database: string): Set<string> {
  const held = new Set<string>();
  for (const scope of grants.scopes) {
    if (scope.table !== '*') continue;
    if (scope.database !== '*' && !likeMatches(scope.database, database)) continue;
    for (const privilege of scope.privileges) held.add(privilege);
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
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of list) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      items.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  items.push(current);
  return items
    .map((item) => item.trim().replace(/\s+/g, ' ').toUpperCase())
    .filter((item) => item !== '' && !item.includes('('))
    .map((item) => (item === 'ALL' ? 'ALL PRIVILEGES' : item));
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
