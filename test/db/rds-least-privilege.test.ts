// `push migrate` as it runs on managed MySQL (SPEC §1): binary logging on, an application
// account with table privileges plus TRIGGER and nothing else (no SUPER, no REPLICATION), and
// `log_bin_trust_function_creators` set by the operator in the parameter group, or not yet.
// The real CLI runs as a child process against a private RDS-like mariadbd; the order
// service's tables are created by that same least-privilege account.
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TRIGGER_NAME } from '../../src/db/order-trigger.js';
import { connectDatabase } from '../../src/db/connect-database.js';
import { OUTBOX_TABLE } from '../../src/db/migration-context.js';
import { createOrderServiceTables } from '../../src/demo/order-service-schema.js';
import { startRdsLikeMariaDb, type RdsLikeServer } from '../support/rds-like-mariadb.js';
import { runCli } from '../support/run-cli.js';

describe('push migrate with a least-privilege account on a binary-logging server', () => {
  let server: RdsLikeServer;
  let app: Knex;

  beforeAll(async () => {
    server = await startRdsLikeMariaDb();
    app = connectDatabase(server.appUrl, 2);
    await createOrderServiceTables(app);
  });

  afterAll(async () => {
    await app?.destroy();
    await server?.stop();
  });

  beforeEach(async () => {
    // Every test starts unmigrated; removing push's objects needs no trust and no SUPER.
    // --force: an earlier test's events were never handed off (no poller runs here).
    const down = await runCli(['migrate', '--down', '--force'], { DATABASE_URL: server.appUrl });
    expect(down.code, down.stderr).toBe(0);
    await app('orders').del();
  });

  it('has an account without SUPER or any REPLICATION privilege (what the product promises to need)', async () => {
    const [rows] = (await app.raw('SHOW GRANTS')) as [Record<string, string>[]];
    const grants = rows.map((row) => Object.values(row)[0] ?? '').join('\n');
    expect(grants).toContain('TRIGGER');
    expect(grants).not.toMatch(/SUPER|REPLICATION|ALL PRIVILEGES/);
    const [[{ logBin }]] = (await app.raw('SELECT @@log_bin AS logBin')) as [[{ logBin: number }]];
    expect(Number(logBin)).toBe(1);
  });

  it('migrates and records events once log_bin_trust_function_creators is 1', async () => {
    await server.setTrustFunctionCreators(true);

    const run = await runCli(['migrate'], { DATABASE_URL: server.appUrl });

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('20261126_002_order_triggers');
    const [orderId] = (await app('orders').insert({
      patient_id: 98,
      status: 'PAYING',
    })) as number[];
    await app('orders').where({ id: orderId }).update({ status: 'AWAITING_ACCEPT' });
    expect(await app(OUTBOX_TABLE).select('order_id', 'from_status', 'to_status')).toEqual([
      { order_id: String(orderId), from_status: 'PAYING', to_status: 'AWAITING_ACCEPT' },
    ]);
  });

  it('refuses with error 1419 explained in plain words while log_bin_trust_function_creators is 0', async () => {
    await server.setTrustFunctionCreators(false);

    const run = await runCli(['migrate'], { DATABASE_URL: server.appUrl });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error 1419');
    expect(run.stderr).toContain('log_bin_trust_function_creators');
    expect(run.stderr).toMatch(/AWS RDS.*parameter group/);
    expect(run.stderr).toMatch(/no REPLICATION SLAVE \/ REPLICATION CLIENT grant is needed/);
    expect(run.stderr + run.stdout).not.toContain('    at ');
    const [triggers] = (await app.raw(
      'SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()',
    )) as [unknown[]];
    expect(triggers).toEqual([]);
  });

  it('succeeds on the next run once the operator has set the parameter, with no cleanup between', async () => {
    await server.setTrustFunctionCreators(false);
    const refused = await runCli(['migrate'], { DATABASE_URL: server.appUrl });
    expect(refused.code).toBe(1);

    await server.setTrustFunctionCreators(true);
    const retried = await runCli(['migrate'], { DATABASE_URL: server.appUrl });

    expect(retried.code, retried.stderr).toBe(0);
    const [triggers] = (await app.raw(
      'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()',
    )) as [{ name: string }[]];
    expect(triggers.map((t) => t.name)).toEqual([TRIGGER_NAME]);
  });
});
