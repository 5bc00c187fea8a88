// CI (.github/workflows/ci.yml): waits for the MySQL service container, then sets what an operator
// sets on RDS before `push migrate` (SPEC §1): log_bin_trust_function_creators = 1, so accounts
// without SUPER may create the trigger while binary logging is on (MySQL 8's default). Connects
// as TEST_DATABASE_URL says, through the product's own reader of the URL (database-url.ts), so
// ?ssl-mode=REQUIRED is honoured; prints the server, binary logging and the session's TLS.
// Needs the build (`npm ci` runs it). Usage: node .ci/prepare-database.mjs
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';
import { createConnection } from 'mysql2/promise';
import { mysqlConnectionOptions, withDatabaseName } from '../dist/src/db/database-url.js';

const url = process.env.TEST_DATABASE_URL;
if (!url) throw new Error('TEST_DATABASE_URL is not set');
const where = new URL(url);
where.password = where.password ? '***' : '';

const STARTING = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT'];
const deadline = Date.now() + 120_000;
let connection;
for (;;) {
  try {
    // No database: the tests ignore the URL's path, and the server may have no such database.
    connection = await createConnection(mysqlConnectionOptions(withDatabaseName(url, '')));
    break;
  } catch (error) {
    // Still starting (refused, reset, no DNS name yet) is worth waiting for; a refusal is not.
    if (!STARTING.includes(error.code) || Date.now() > deadline) {
      throw new Error(`MySQL at ${where} did not let us in`, { cause: error });
    }
    await sleep(1_000);
  }
}
try {
  // The service container is this job's alone: a global setting harms no one else.
  await connection.query('SET GLOBAL log_bin_trust_function_creators = 1');
  const [[server]] = await connection.query(
    'SELECT VERSION() AS version, @@GLOBAL.log_bin AS logBin, ' +
      '@@GLOBAL.log_bin_trust_function_creators AS trust',
  );
  const [tls] = await connection.query(
    "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')",
  );
  const status = Object.fromEntries(tls.map((row) => [row.Variable_name, row.Value]));
  console.log(
    `MySQL at ${where}: ${server.version}, log_bin=${server.logBin}, ` +
      `log_bin_trust_function_creators=${server.trust}, session TLS: ` +
      `${status.Ssl_version ? `${status.Ssl_version} ${status.Ssl_cipher}` : 'none'}`,
  );
  if (new URL(url).searchParams.has('ssl-mode') && !status.Ssl_cipher) {
    throw new Error('TEST_DATABASE_URL asks for TLS, but the session is not encrypted');
  }
} finally {
  await connection.end();
}
