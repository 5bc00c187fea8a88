import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRdsLikeMariaDb, type RdsLikeServer } from './rds-like-mariadb.js';

describe('the RDS-like test server', () => {
  let server: RdsLikeServer;
  let app: Connection;

  beforeAll(async () => {
    server = await startRdsLikeMariaDb();
    app = await createConnection(server.appUrl);
    await app.query('CREATE TABLE t (id INT PRIMARY KEY)');
  });

  afterAll(async () => {
    await app?.end();
    await server?.stop();
  });

  it('has binary logging on', async () => {
    const [rows] = await app.query<RowsOf<{ log_bin: number }>>('SELECT @@log_bin AS log_bin');
    expect(rows[0]?.log_bin).toBe(1);
  });

  it('gives the app account table privileges and TRIGGER on its database only, no SUPER', async () => {
    const [rows] = await app.query<RowsOf<Record<string, string>>>('SHOW GRANTS');
    const grants = rows.map((row) => Object.values(row)[0] ?? '').join('\n');
    expect(grants).toContain('TRIGGER');
    expect(grants).not.toMatch(/SUPER|REPLICATION|ALL PRIVILEGES/);
    // The only grant on *.* is USAGE (no privileges at all).
    for (const line of grants.split('\n').filter((grant) => grant.includes(' ON *.* '))) {
      expect(line).toMatch(/^GRANT USAGE ON \*\.\* TO /);
    }
  });

  it('refuses CREATE TRIGGER from the app account with error 1419 while trust is off, and allows it once on', async () => {
    const createTrigger =
      'CREATE TRIGGER t_after_insert AFTER INSERT ON t FOR EACH ROW SET @seen = NEW.id';

    await server.setTrustFunctionCreators(false);
    await expect(app.query(createTrigger)).rejects.toMatchObject({ errno: 1419 });

    await server.setTrustFunctionCreators(true);
    await app.query(createTrigger);
    const [rows] = await app.query<RowsOf<{ Trigger: string }>>('SHOW TRIGGERS');
    expect(rows.map((row) => row.Trigger)).toEqual(['t_after_insert']);
  });
});

type RowsOf<T> = (T & RowDataPacket)[];
