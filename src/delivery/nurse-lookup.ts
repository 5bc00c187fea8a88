/** Reads a nurse's name for the scenarios whose push names the nurse (scenario 8). */
import type { Knex } from 'knex';
import type { Nurse } from '../scenarios/types.js';

export interface NurseLookup {
  /** The nurse, or undefined when no such row exists (the push is then dead-lettered). */
  find(nurseId: string): Promise<Nurse | undefined>;
}

export function nurseLookup(knex: Knex, nursesTable: string): NurseLookup {
  return {
    async find(nurseId) {
      const row = (await knex(nursesTable).select('id', 'name').where({ id: nurseId }).first()) as
        | { id: string | number; name: string }
        | undefined;
      return row ? { id: String(row.id), name: row.name } : undefined;
    },
  };
}
