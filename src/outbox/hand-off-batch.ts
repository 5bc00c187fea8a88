/**
 * One claim cycle, in one short READ COMMITTED transaction on the poller's own connection
 * (claim-connection.ts): claim a batch, turn its events into pushes, enqueue them, record
 * the pushes as owed and stamp the rows, commit. If anything fails before the commit
 * (Redis down, this process killed), the rows are released unstamped and claimed again
 * later; BullMQ drops the pushes it already has, by job id. So a row is stamped only once
 * BullMQ holds its pushes, and an event is never lost.
 *
 * `admits` (back-pressure.ts) asks Redis whether the delivery queue has room, alongside
 * the claim, so the check costs no extra round trip; when it has none, the claim is rolled
 * back.
 */
import type { Logger } from 'pino';
import type { ScenarioCatalog } from '../scenarios/catalog.js';
import { matchEvent } from '../scenarios/match-event.js';
import type { PushJob } from '../scenarios/types.js';
import { claimBatch } from './claim-batch.js';
import type { ClaimConnection } from './claim-connection.js';
import { deferOutOfOrder } from './defer-out-of-order.js';
import { markHandedOffAndCommit } from './mark-handed-off.js';

export interface HandOffDeps {
  /** The poller's own connection (claim-connection.ts): READ COMMITTED for its life. */
  claims: ClaimConnection;
  catalog: ScenarioCatalog;
  /** Hands the pushes to BullMQ; calls `held` once the ledger has them, before the job exists. */
  enqueue: (pushes: PushJob[], held?: () => void) => Promise<void>;
  logger: Logger;
  /** Test hook for the crash matrix: called at named points of the cycle. */
  checkpoint?: (point: 'claimed' | 'held' | 'enqueued') => void;
}

export interface HandOffResult {
  claimed: number;
  handedOff: number;
  pushes: number;
  /** created_at of the oldest event claimed (for the lag metric), if any. */
  oldestClaimedAt?: string;
  /** Nothing was handed off: the delivery queue is full (back-pressure.ts). */
  heldBack?: boolean;
}

export const HELD_BACK: HandOffResult = Object.freeze({
  claimed: 0,
  handedOff: 0,
  pushes: 0,
  heldBack: true,
});

export async function handOffBatch(
  deps: HandOffDeps,
  batchSize: number,
  admits?: () => Promise<boolean>,
): Promise<HandOffResult> {
  const { claims } = deps;
  try {
    const [claim, admitted] = await Promise.all([
      claimBatch(claims, batchSize),
      admits ? admits() : true,
    ]);
    if (!admitted) {
      await claims.rollback();
      return HELD_BACK;
    }
    const claimed = claim.events;
    if (claimed.length === 0) {
      await markHandedOffAndCommit(claims, []);
      return { claimed: 0, handedOff: 0, pushes: 0 };
    }
    deps.checkpoint?.('claimed');
    const { ready, deferred } = await deferOutOfOrder(claims, claim);
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
    await deps.enqueue(pushes, () => deps.checkpoint?.('held'));
    deps.checkpoint?.('enqueued');
    await markHandedOffAndCommit(
      claims,
      ready.map((e) => e.eventId),
      pushes,
    );
    return {
      claimed: claimed.length,
      handedOff: ready.length,
      pushes: pushes.length,
      oldestClaimedAt: claimed[0]?.occurredAt,
    };
  } catch (err) {
    await claims.rollback();
    throw err;
  }
}
