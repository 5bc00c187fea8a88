// Which server the tests run against (MariaDB here, MySQL 8.0/8.4 and MariaDB in CI), for the
// few expectations that differ by documented behaviour: how push replaces its trigger.
import type { Knex } from 'knex';
import { TRIGGER_NAME } from '../../src/db/order-trigger.js';
import { serverFlavorOf, type ServerVersion } from '../../src/db/server-version.js';

export async function serverFlavor(knex: Knex): Promise<ServerVersion['flavor']> {
  const [[row]] = (await knex.raw('SELECT VERSION() AS version')) as [[{ version: string }]];
  return serverFlavorOf(row.version);
}

/** The statements that replace push's trigger on `orders` with `createTrigger`, on `flavor`. */
export function triggerReplacementSql(
  flavor: ServerVersion['flavor'],
  createTrigger: string,
): string[] {
  return flavor === 'MariaDB'
    ? [createTrigger.replace('CREATE TRIGGER', 'CREATE OR REPLACE TRIGGER')]
    : [
        'LOCK TABLES `orders` WRITE, `order_events` WRITE',
        `DROP TRIGGER \`${TRIGGER_NAME}\``,
        createTrigger,
        'UNLOCK TABLES',
      ];
}
