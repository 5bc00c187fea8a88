// The doctor's reading of SHOW GRANTS against MySQL 8's documented output (MySQL 8.0/8.4
// Reference Manual: "SHOW GRANTS Statement", "Using Roles", "Privilege Restriction Using Partial
// Revokes") and what MariaDB 10.11 prints: backtick quoting, dynamic privileges on a line of
// their own, roles as `r`@`%`, expanded roles (USING), and partial revokes. MySQL 8 is not on
// this machine; the CI workflow runs test/doctor/grants-on-server.test.ts against it.
import { describe, expect, it } from 'vitest';
import { judgeGrants, type AccountGrants } from '../../src/doctor/check-grants.js';
import {
  hasGlobalPrivilege,
  parseGrants,
  parseRoleList,
  privilegesOnDatabase,
  tableGrantsIn,
} from '../../src/doctor/parse-grants.js';
import { APP_GRANTS } from '../support/app-account.js';

/** An account on MySQL 8, whose SHOW GRANTS these are. */
function account(lines: string[], activeRoles: string[] = []): AccountGrants {
  return {
    user: 'push_app',
    host: '%',
    database: 'app',
    flavor: 'MySQL',
    grants: parseGrants(lines),
    activeRoles,
  };
}

describe('MySQL 8 SHOW GRANTS', () => {
  it('reads the manual’s first example: USAGE on *.* and privileges on one database', () => {
    const grants = parseGrants([
      'GRANT USAGE ON *.* TO `jeffrey`@`localhost`',
      'GRANT SELECT, INSERT, UPDATE ON `db1`.* TO `jeffrey`@`localhost`',
    ]);
    expect([...privilegesOnDatabase(grants, 'db1')].sort()).toEqual([
      'INSERT',
      'SELECT',
      'UPDATE',
      'USAGE',
    ]);
    expect([...privilegesOnDatabase(grants, 'db2')]).toEqual(['USAGE']);
    expect(grants.roles).toEqual([]);
  });

  it('lists granted roles as `r`@`%` and counts their privileges once USING expands them', () => {
    // SHOW GRANTS FOR 'u1'@'localhost', then the same USING 'r1', as in the manual.
    const plain = parseGrants([
      'GRANT USAGE ON *.* TO `u1`@`localhost`',
      'GRANT `r1`@`%`,`r2`@`%` TO `u1`@`localhost`',
    ]);
    expect(plain.roles).toEqual(['r1@%', 'r2@%']);
    expect(privilegesOnDatabase(plain, 'db1').has('SELECT')).toBe(false);
    const usingR1 = parseGrants([
      'GRANT USAGE ON *.* TO `u1`@`localhost`',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON `db1`.* TO `u1`@`localhost`',
      'GRANT `r1`@`%`,`r2`@`%` TO `u1`@`localhost`',
    ]);
    expect(usingR1.roles).toEqual(['r1@%', 'r2@%']);
    expect(privilegesOnDatabase(usingR1, 'db1')).toEqual(
      new Set(['USAGE', 'SELECT', 'INSERT', 'UPDATE', 'DELETE']),
    );
    // WITH ADMIN OPTION follows the account, not the role list.
    expect(parseGrants(['GRANT `app_rw`@`%` TO `push_app`@`%` WITH ADMIN OPTION']).roles).toEqual([
      'app_rw@%',
    ]);
  });

  it('reads static privileges listed one by one (no ALL PRIVILEGES on *.*), dynamic ones such as SET_USER_ID, and skips PROXY', () => {
    const grants = parseGrants([
      'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, SHUTDOWN, PROCESS, FILE, ' +
        'REFERENCES, INDEX, ALTER, SHOW DATABASES, SUPER, CREATE TEMPORARY TABLES, LOCK TABLES, ' +
        'EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ' +
        'ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE TABLESPACE, CREATE ROLE, DROP ROLE ' +
        'ON *.* TO `root`@`localhost` WITH GRANT OPTION',
      'GRANT APPLICATION_PASSWORD_ADMIN,AUDIT_ABORT_EXEMPT,BACKUP_ADMIN,BINLOG_ADMIN,' +
        'CONNECTION_ADMIN,ROLE_ADMIN,SESSION_VARIABLES_ADMIN,SET_USER_ID,SYSTEM_USER,' +
        'SYSTEM_VARIABLES_ADMIN,XA_RECOVER_ADMIN ON *.* TO `root`@`localhost` WITH GRANT OPTION',
      'GRANT PROXY ON ``@`` TO `root`@`localhost` WITH GRANT OPTION',
    ]);
    expect(grants.scopes).toHaveLength(2);
    for (const privilege of ['SUPER', 'SET_USER_ID', 'SYSTEM_VARIABLES_ADMIN', 'SHOW DATABASES']) {
      expect(hasGlobalPrivilege(grants, privilege)).toBe(true);
    }
    expect(hasGlobalPrivilege(grants, 'SET_ANY_DEFINER')).toBe(false);
    const onApp = privilegesOnDatabase(grants, 'app');
    for (const privilege of APP_GRANTS.split(', ')) expect(onApp.has(privilege)).toBe(true);
  });

  it('takes partial revokes off the database they name, and only that one', () => {
    // The manual's example, with partial_revokes=ON.
    const grants = parseGrants([
      'GRANT SELECT, INSERT ON *.* TO `u1`@`%`',
      'REVOKE INSERT ON `world`.* FROM `u1`@`%`',
    ]);
    expect([...privilegesOnDatabase(grants, 'world')]).toEqual(['SELECT']);
    expect([...privilegesOnDatabase(grants, 'app')].sort()).toEqual(['INSERT', 'SELECT']);
    // The revoked name is literal: `world` does not revoke on worlds.
    expect(privilegesOnDatabase(grants, 'worlds').has('INSERT')).toBe(true);

    const judged = judgeGrants(
      account([
        `GRANT ${APP_GRANTS} ON *.* TO \`push_app\`@\`%\``,
        'REVOKE TRIGGER ON `app`.* FROM `push_app`@`%`',
      ]),
    );
    expect(judged).toMatchObject({ verdict: 'fail', summary: 'push_app@% lacks TRIGGER on `app`' });
  });

  it('unquotes backticked names holding dots, dashes, backticks and LIKE escapes', () => {
    const grants = parseGrants([
      'GRANT SELECT ON `orders.v2`.* TO `push_app`@`10.0.%`',
      'GRANT INSERT ON `odd``name`.* TO `push_app`@`10.0.%`',
      'GRANT UPDATE ON `push\\_app\\_db`.* TO `push_app`@`10.0.%`',
      'GRANT DELETE ON `order-service`.* TO `push_app`@`10.0.%`',
    ]);
    expect(grants.scopes.map((scope) => scope.database)).toEqual([
      'orders.v2',
      'odd`name',
      'push\\_app\\_db',
      'order-service',
    ]);
    expect(privilegesOnDatabase(grants, 'push_app_db').has('UPDATE')).toBe(true);
    expect(privilegesOnDatabase(grants, 'pushXappXdb').has('UPDATE')).toBe(false);
    expect(privilegesOnDatabase(grants, 'order-service').has('DELETE')).toBe(true);
  });

  it('keeps column grants (MySQL 8 backticks the columns) apart from whole-table ones', () => {
    const grants = parseGrants([
      'GRANT SELECT (`id`, `name`), INSERT ON `app`.`nurses` TO `push_app`@`%`',
    ]);
    expect(tableGrantsIn(grants, 'app')).toEqual([
      { database: 'app', table: 'nurses', privileges: new Set(['INSERT']) },
    ]);
    expect(privilegesOnDatabase(grants, 'app').size).toBe(0);
  });
});

describe('MariaDB 10.11 SHOW GRANTS with a default role', () => {
  it('reads the role grant, the role’s own grants and skips SET DEFAULT ROLE', () => {
    // As printed by SHOW GRANTS (without FOR) in a session whose default role is active.
    const grants = parseGrants([
      'GRANT `push_rw` TO `push_app`@`%`',
      "GRANT USAGE ON *.* TO `push_app`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227'",
      'GRANT USAGE ON *.* TO `push_rw`',
      `GRANT ${APP_GRANTS} ON \`app\`.* TO \`push_rw\``,
      'SET DEFAULT ROLE `push_rw` FOR `push_app`@`%`',
    ]);
    expect(grants.roles).toEqual(['push_rw']);
    expect(privilegesOnDatabase(grants, 'app').has('TRIGGER')).toBe(true);
  });
});

describe('judging an account whose privileges come through roles', () => {
  it('is ok through the RDS master user’s default role, and says the role was counted', () => {
    // RDS for MySQL 8.0.36+: the master user holds rds_superuser_role as its default role.
    const judged = judgeGrants(
      account(
        [
          'GRANT USAGE ON *.* TO `admin`@`%`',
          'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, ' +
            'INDEX, ALTER, SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, ' +
            'REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ' +
            'ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE ROLE, DROP ROLE ON *.* TO ' +
            '`admin`@`%` WITH GRANT OPTION',
          'GRANT `rds_superuser_role`@`%` TO `admin`@`%`',
        ],
        parseRoleList('`rds_superuser_role`@`%`'),
      ),
    );
    expect(judged.verdict).toBe('ok');
    expect(judged.details).toContain(
      'counted the privileges of the roles active at login: rds_superuser_role@%',
    );
  });

  it('fails, naming the inactive role and how to make it a default role, when only a non-default role has the privileges', () => {
    const judged = judgeGrants(
      account(['GRANT USAGE ON *.* TO `push_app`@`%`', 'GRANT `push_rw`@`%` TO `push_app`@`%`']),
    );
    expect(judged.verdict).toBe('fail');
    expect(judged.details.join('\n')).toContain(
      "roles granted but not active at login are not counted (push_rw@%): push's sessions get " +
        "their privileges only as default roles: SET DEFAULT ROLE ALL TO 'push_app'@'%' (MySQL)",
    );
  });

  it('reads CURRENT_ROLE() as MySQL and MariaDB write it', () => {
    expect(parseRoleList('`r1`@`%`,`r2`@`localhost`')).toEqual(['r1@%', 'r2@localhost']);
    expect(parseRoleList('`we,ird`@`%`')).toEqual(['we,ird@%']);
    expect(parseRoleList('push_rw')).toEqual(['push_rw']);
  });
});
