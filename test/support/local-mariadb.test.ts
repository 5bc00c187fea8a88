// Two private servers started at once can be handed the same free port. The one that binds it
// second must not take the first for itself: its tests would create their databases and
// accounts on another test's server.
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, expect, it } from 'vitest';
import { findFreePort } from '../../bench/local-process.js';
import { startLocalMariaDb, type LocalMariaDb } from '../../bench/local-mariadb.js';

const started: LocalMariaDb[] = [];
const small = {
  innodbArgs: ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M'],
  serverArgs: ['--skip-ssl'],
};

afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
});

async function datadirOf(rootUrl: string): Promise<string> {
  const connection = await createConnection({ uri: rootUrl });
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT @@datadir AS datadir');
    return rows[0]!.datadir as string;
  } finally {
    await connection.end();
  }
}

it('starts on another port when the port it was given is already another server’s', async () => {
  const first = await startLocalMariaDb({ label: 'push-port-first-', ...small });
  started.push(first);

  const offered: number[] = [];
  const second = await startLocalMariaDb({
    label: 'push-port-second-',
    ...small,
    // The first server's port, as a racing findFreePort would have offered it; then a free one.
    choosePort: async () => {
      const port = offered.length === 0 ? first.port : await findFreePort();
      offered.push(port);
      return port;
    },
  });
  started.push(second);

  expect(offered[0]).toBe(first.port);
  expect(second.port).not.toBe(first.port);
  expect(await datadirOf(second.rootUrl)).not.toBe(await datadirOf(first.rootUrl));
}, 120_000);
