// The order service's tables, as SPEC §2 describes them. The push subsystem never creates these
// in production (the order service owns them); the demo and the tests need a stand-in.
import type { Knex } from 'knex';

export interface SampleNurse {
  id: number;
  name: string;
}

export const SAMPLE_NURSES: readonly SampleNurse[] = Object.freeze([
  { id: 7, name: '王芳' },
  { id: 8, name: '李娜' },
  { id: 9, name: '张敏' },
]);

/**
 * Creates `orders` and `nurses` if they do not exist. One knex.raw per statement: mysql2 refuses
 * multi-statement SQL unless the connection opts in, and ours do not.
 * The columns beyond the five the push subsystem relies on are there so that tests can prove an
 * UPDATE that touches only them records no event.
 */
export async function createOrderServiceTables(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS orders (
      id            BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
      patient_id    BIGINT UNSIGNED NOT NULL,
      nurse_id      BIGINT UNSIGNED NULL,
      status        VARCHAR(32) NOT NULL,
      status_reason VARCHAR(32) NULL,
      amount_cents  INT NOT NULL DEFAULT 0,
      note          VARCHAR(255) NULL,
      created_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      KEY orders_patient_id (patient_id),
      KEY orders_nurse_id (nurse_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  `);
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS nurses (
      id   BIGINT UNSIGNED PRIMARY KEY,
      name VARCHAR(64) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  `);
}

/** Inserts SAMPLE_NURSES; running it again leaves them as they are. */
export async function insertSampleNurses(knex: Knex): Promise<void> {
  await knex('nurses')
    .insert(SAMPLE_NURSES.map(({ id, name }) => ({ id, name })))
    .onConflict('id')
    .merge(['name']);
}
