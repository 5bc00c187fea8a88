// The doctor's grants check on the test server for an account that holds push's privileges only
// through a role: counted when the role is a default role (active at login, so every session push
// opens has it), named and not counted when it is not. Roles differ between MySQL 8 (`r`@`%`,
// SHOW GRANTS … USING) and MariaDB (bare names, SET DEFAULT ROLE … FOR); the CI workflow runs this
// file against MySQL 8.0, 8.4 and MariaDB 10.11.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { assertDatabaseReachable, connectDatabase } from '../../src/db/connect-database.js';
import { withDatabaseName } from '../../src/db/database-url.js';
import { checkGrants } from '../../src/doctor/check-grants.js';
import { APP_GRANTS, appUrlOf, dropAppAccountSql, newAppAccount } from '../support/app-account.js';
import { runStatements, usesTls } from '../support/mysql-login.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
const role = `push_role_${randomBytes(4).toString('hex')}`;
const roleAccount = newAppAccount();
let roleUrl: string;
let isMariaDb: boolean;
const opened: Knex[] = [];

beforeAll(async () => {
  db = await createTestDatabase('grants-roles');
  const [rows] = (await db.knex.raw('SELECT VERSION() AS version')) as [{ version: string }[]];
  isMariaDb = /mariadb/i.test(rows[0]?.version ?? '');
  const user = `'${roleAccount.user}'@'%'`;
  // Root (db.adminUrl): creating roles and accounts is what an administrator does.
  await runStatements(db.adminUrl, [
    `CREATE ROLE \`${role}\``,
    `GRANT ${APP_GRANTS} ON \`${db.name}\`.* TO \`${role}\``,
    `CREATE USER ${user} IDENTIFIED BY '${roleAccount.password.replace(/'/g, "''")}'${usesTls(db.adminUrl) ? ' REQUIRE SSL' : ''}`,
    `GRANT \`${role}\` TO ${user}`,
    // One privilege of its own, or the server would refuse it the database before any check.
    `GRANT SELECT ON \`${db.name}\`.* TO ${user}`,
  ]);
  roleUrl = appUrlOf(testServerUrl(), roleAccount, db.name);
});

afterAll(async () => {
  await Promise.allSettled(opened.map((knex) => knex.destroy()));
  await runStatements(db.adminUrl, [
    dropAppAccountSql(roleAccount),
    `DROP ROLE IF EXISTS \`${role}\``,
  ]);
  await db?.drop();
});

async function grantsVerdict() {
  const knex = connectDatabase(roleUrl, 1);
  opened.push(knex);
  return (await checkGrants(knex)).result;
}

it('names a granted role that is not active at login and does not count it', async () => {
  const result = await grantsVerdict();
  expect(result.verdict).toBe('fail');
  expect(result.summary).toBe(
    `${roleAccount.user}@% lacks INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER${isMariaDb ? '' : ', LOCK TABLES'} on \`${db.name}\``,
  );
  const roleName = isMariaDb ? role : `${role}@%`;
  expect(result.details.join('\n')).toContain(
    `roles granted but not active at login are not counted (${roleName})`,
  );
});

it('counts the privileges of a default role, as every session push opens has them', async () => {
  const user = `'${roleAccount.user}'@'%'`;
  await runStatements(db.adminUrl, [
    isMariaDb
      ? `SET DEFAULT ROLE \`${role}\` FOR ${user}`
      : `SET DEFAULT ROLE \`${role}\` TO ${user}`,
  ]);
  const result = await grantsVerdict();
  expect(result.summary).toBe(
    // MariaDB replaces the trigger in one statement: push asks for LOCK TABLES on MySQL only.
    `${roleAccount.user}@% has what push needs on \`${db.name}\`: ${isMariaDb ? APP_GRANTS.replace(', LOCK TABLES', '') : APP_GRANTS}`,
  );
  expect(result.verdict).toBe('ok');
  expect(result.details).toContain(
    `counted the privileges of the roles active at login: ${isMariaDb ? role : `${role}@%`}`,
  );
});

it('says which database an account is refused, and that a role must be a default role', async () => {
  const elsewhere = withDatabaseName(roleUrl, `${db.name}_other`);
  const knex = connectDatabase(elsewhere, 1);
  opened.push(knex);
  const error = await assertDatabaseReachable(knex, elsewhere).catch(
    (err: unknown) => err as Error,
  );
  expect(error?.message).toContain(
    `logged the account in but refuses it the database "${db.name}_other" (ER_DBACCESS_DENIED_ERROR)`,
  );
  expect(error?.message).toContain('make that a default role (SET DEFAULT ROLE)');
  expect(error?.message).not.toContain(encodeURIComponent(roleAccount.password));
});
