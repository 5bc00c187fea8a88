/**
 * Reads a nurse's name for the scenarios whose push names the nurse (scenario 8).
 *
 * Lookups asked for in the same turn of the event loop share one query
 * (`WHERE id IN (…)`): with 64 deliveries in flight, one round trip to MySQL serves them
 * all instead of one each. Nothing is cached across turns, so a renamed nurse is named
 * correctly from the next push on. Measured in docs/BENCHMARKS.md (tuning step 1).
 */
import type { Knex } from 'knex';
import type { Nurse } from '../scenarios/types.js';

export interface NurseLookup {
  /** The nurse, or undefined when no such row exists (the push is then dead-lettered). */
  find(nurseId: string): Promise<Nurse | undefined>;
}

interface Waiting {
  resolve: (nurse: Nurse | undefined) => void;
  reject: (err: unknown) => void;
}

export function nurseLookup(knex: Knex, nursesTable: string): NurseLookup {
  let pending: Map<string, Waiting[]> | undefined;

  async function lookUp(batch: Map<string, Waiting[]>): Promise<void> {
    const ids = [...batch.keys()];
    try {
      const [rows] = (await knex.raw(
        `SELECT id, name FROM ?? WHERE id IN (${ids.map(() => '?').join(',')})`,
        [nursesTable, ...ids],
      )) as [Array<{ id: string | number; name: string }>];
      const byId = new Map(
        rows.map((row) => [String(row.id), { id: String(row.id), name: row.name }]),
      );
      for (const [id, waiting] of batch) for (const w of waiting) w.resolve(byId.get(id));
    } catch (err) {
      for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
    }
  }

  return {
    find(nurseId) {
      if (!pending) {
        const batch = new Map<string, Waiting[]>();
        pending = batch;
        setImmediate(() => {
          pending = undefined;
          void lookUp(batch);
        });
      }
      const batch = pending;
      return new Promise((resolve, reject) => {
        const waiting = batch.get(nurseId);
        if (waiting) waiting.push({ resolve, reject });
        else batch.set(nurseId, [{ resolve, reject }]);
      });
    },
  };
}
