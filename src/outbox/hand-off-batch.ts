/**
 * One claim cycle, in one short READ COMMITTED transaction: claim a batch, turn its events
 * into pushes, enqueue them, stamp the rows, commit. If anything fails before the commit
 * (Redis down, this process killed), the rows are released unstamped and claimed again
 * later; BullMQ drops the pushes it already has, by job id. So a row is stamped only once
 * BullMQ holds its pushes, and an event is never lost.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ScenarioCatalog } from '../scenarios/catalog.js';
import { matchEvent } from '../scenarios/match-event.js';
import type { PushJob } from '../scenarios/types.js';
import { claimBatch } from './claim-batch.js';
import { deferOutOfOrder } from './defer-out-of-order.js';
import { markHandedOff } from './mark-handed-off.js';

export interface HandOffDeps {
  knex: Knex;
  catalog: ScenarioCatalog;
  enqueue: (pushes: PushJob[]) => Promise<void>;
  logger: Logger;
  /** Test hook for the crash matrix: called at named points of the cycle. */
  checkpoint?: (point: 'claimed' | 'enqueued') => void;
}

export interface HandOffResult {
  claimed: number;
  handedOff: number;
  pushes: number;
  /** created_at of the oldest event claimed (for the lag metric), if any. */
  oldestClaimedAt?: string;
}

export async function handOffBatch(deps: HandOffDeps, batchSize: number): Promise<HandOffResult> {
  return deps.knex.transaction(
    async (trx) => {
      const claimed = await claimBatch(trx, batchSize);
      if (claimed.length === 0) return { claimed: 0, handedOff: 0, pushes: 0 };
      deps.checkpoint?.('claimed');
      const { ready, deferred } = await deferOutOfOrder(trx, claimed);
      if (deferred.length > 0) {
        deps.logger.debug(
          { deferred: deferred.length },
          'left events behind an earlier event of their order',
        );
      }
      const pushes: PushJob[] = [];
      for (const event of ready) {
        const match = matchEvent(event, deps.catalog);
        if (match.unknownStatuses.length > 0) {
          // Not an error of the pipeline (SPEC §4): recorded, matched by no rule, passed over.
          deps.logger.info(
            {
              eventId: event.eventId,
              orderId: event.orderId,
              unknownStatuses: match.unknownStatuses,
            },
            'event has an unknown status and matches no rule',
          );
        }
        pushes.push(...match.pushes);
      }
      await deps.enqueue(pushes);
      deps.checkpoint?.('enqueued');
      await markHandedOff(
        trx,
        ready.map((e) => e.eventId),
      );
      return {
        claimed: claimed.length,
        handedOff: ready.length,
        pushes: pushes.length,
        oldestClaimedAt: claimed[0]?.occurredAt,
      };
    },
    { isolationLevel: 'read committed' },
  );
}
