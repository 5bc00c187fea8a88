/**
 * `push doctor`: every check, in the order an operator would fix things: can we reach
 * MySQL, is the session encrypted, is it recent enough, may this account do what push does,
 * can it create the trigger, is the trigger there, do push's columns still hold what orders
 * holds, is the outbox draining; then Redis and Singer. Each check catches its own errors,
 * so one broken thing never hides the verdicts on the others.
 */
import type { Config } from '../config.js';
import { connectDatabase, describeDatabaseError } from '../db/connect-database.js';
import { migrationContextOf } from '../db/migration-context.js';
import { databaseHostOf, databaseTlsOf } from '../db/database-url.js';
import { checkBinaryLogging } from './check-binary-logging.js';
import { errorMessage, fail, type CheckResult } from './check-result.js';
import { canSeeTriggers, checkGrants, hasSuper, type AccountGrants } from './check-grants.js';
import { checkMysqlTls } from './check-mysql-tls.js';
import { checkOutboxBacklog } from './check-outbox-backlog.js';
import { checkOutboxColumns } from './check-outbox-columns.js';
import { checkRedis } from './check-redis.js';
import { checkServerVersion } from './check-server-version.js';
import { checkSinger } from './check-singer.js';
import { checkTriggers } from './check-triggers.js';

export interface DoctorReport {
  /** false when any check failed; warnings leave it true. */
  ok: boolean;
  failures: number;
  warnings: number;
  checks: CheckResult[];
}

/** Long enough for a server across a region, short enough that a dead one is named quickly. */
const CHECK_TIMEOUT_MS = 5_000;

export async function runDoctor(config: Config): Promise<DoctorReport> {
  const [database, redis, singer] = await Promise.all([
    databaseChecks(config),
    checkRedis(config.redis, config.queuePrefix, CHECK_TIMEOUT_MS),
    checkSinger(config.singerUrl, Math.min(config.singerTimeoutMs, CHECK_TIMEOUT_MS)),
  ]);
  const checks = [...database, redis, singer];
  const failures = checks.filter((c) => c.verdict === 'fail').length;
  const warnings = checks.filter((c) => c.verdict === 'warn').length;
  return { ok: failures === 0, failures, warnings, checks };
}

async function databaseChecks(config: Config): Promise<CheckResult[]> {
  const knex = connectDatabase(config.databaseUrl, 1);
  try {
    try {
      const [rows] = (await knex.raw('SELECT DATABASE() AS db')) as [{ db: string | null }[]];
      if (!rows[0]?.db) {
        return [
          fail(
            'mysql',
            'DATABASE_URL names no database',
            'set DATABASE_URL to mysql://user:pass@host:port/<database>',
          ),
        ];
      }
    } catch (err) {
      return [
        fail(
          'mysql',
          describeDatabaseError(err, config.databaseUrl).message,
          'check DATABASE_URL (host, port, user, password, database) and that MySQL runs',
        ),
      ];
    }

    const results: CheckResult[] = [
      await guarded('mysql tls', () =>
        checkMysqlTls(knex, databaseHostOf(config.databaseUrl), databaseTlsOf(config.databaseUrl)),
      ),
      await guarded('server version', () => checkServerVersion(knex)),
    ];

    let account: AccountGrants | undefined;
    results.push(
      await guarded('grants', async () => {
        const checked = await checkGrants(knex);
        account = checked.account;
        return checked.result;
      }),
    );
    results.push(
      await guarded('binary logging', () =>
        checkBinaryLogging(knex, account ? hasSuper(account) : false),
      ),
    );
    results.push(
      await guarded('trigger', () =>
        checkTriggers(knex, migrationContextOf(config), {
          canSeeTriggers: account ? canSeeTriggers(account) : true,
        }),
      ),
    );
    results.push(
      await guarded('outbox columns', () => checkOutboxColumns(knex, migrationContextOf(config))),
    );
    results.push(await guarded('outbox backlog', () => checkOutboxBacklog(knex)));
    return results;
  } finally {
    await knex.destroy();
  }
}

async function guarded(check: string, run: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await run();
  } catch (err) {
    return fail(
      check,
      `could not check: ${errorMessage(err)}`,
      'fix the error above and run `npx push doctor` again',
    );
  }
}
