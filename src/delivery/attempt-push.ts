/**
 * One attempt at one push, whichever job carries it (a hand-off job's first attempt, or the
 * push's own job): render it, send it to Singer, and decide what the answer means. Delivered:
 * its outcome committed to MySQL (outcome-recorder.ts), then its turn ended. Refused for
 * good (a template error, a permanent Singer refusal) or out of attempts: dead-lettered with
 * its reason, and its order's next push may go. Anything else: to be retried, which the
 * carrying job arranges.
 */
import type { Logger } from 'pino';
import type { OutcomeRecorder } from '../outcomes/outcome-recorder.js';
import type { PushRenderer } from '../render/render-push.js';
import { RenderError } from '../render/render-error.js';
import type { PushJob, SingerRequest } from '../scenarios/types.js';
import type { SingerClient } from '../singer/singer-client.js';
import { SingerPermanentError } from '../singer/singer-errors.js';
import { deadLetterPush, type DeadLetterDeps } from './dead-letter.js';
import type { Lanes } from './lanes.js';
import type { NurseLookup } from './nurse-lookup.js';
import { operationsRecord } from './operations-record.js';

/** What happened to one attempt; metrics and the delivery trace listen to these. */
export interface AttemptOutcome {
  push: PushJob;
  attempt: number;
  outcome: 'delivered' | 'retry' | 'dead';
  singerStatus?: number;
  error?: string;
  durationMs?: number;
}

export interface AttemptDeps extends DeadLetterDeps {
  /** Where delivered and dead-lettered pushes are recorded, before their jobs complete. */
  outcomes: OutcomeRecorder;
  renderer: PushRenderer;
  singer: SingerClient;
  nurses: NurseLookup;
  lanes: Lanes;
  logger: Logger;
  onAttempt?: (outcome: AttemptOutcome) => void;
  /**
   * Test hook for the crash matrix (PUSH_CRASH_AT): `delivered` once Singer has answered 2xx;
   * `handed-over` (a hand-off job) once the ledger has handed pushes on to jobs of their own,
   * before those jobs exist.
   */
  checkpoint?: (point: 'delivered' | 'handed-over') => void;
  /**
   * Runs each bounded piece of an attempt — the nurse look-up, the call to Singer, the
   * outcome's commit — so that the liveness watch counts it in flight (http/liveness.ts). A
   * push waiting for a lane is not in flight: a hand-off of hundreds behind a slow Singer is
   * slow, not stuck.
   */
  track?: <T>(piece: () => Promise<T>) => Promise<T>;
}

export type AttemptResult =
  | { outcome: 'delivered'; singerStatus: number }
  /** Not made: `mayStart` said no when the push had its lane. */
  | { outcome: 'not-started' }
  | { outcome: 'retry'; error: unknown }
  | { outcome: 'dead'; reason: string };

/** Attempt number `attempt` of `attempts`; never throws for Singer's or the template's sake. */
export async function attemptPush(
  push: PushJob,
  attempt: number,
  attempts: number,
  deps: AttemptDeps,
  /** Asked once the push has a lane, right before it is sent. */
  mayStart: () => Promise<boolean> = async () => true,
): Promise<AttemptResult> {
  const track = deps.track ?? (<T>(piece: () => Promise<T>) => piece());
  let request: SingerRequest | undefined;
  try {
    const nurseId = deps.renderer.needsNurse(push.scenario) ? push.event.nurseId : null;
    const nurse = nurseId ? await track(() => deps.nurses.find(nurseId)) : undefined;
    request = deps.renderer.render(push, nurse);
    const sending = request;
    const answer = await deps.lanes.run(async () =>
      (await mayStart()) ? track(() => deps.singer.send(sending)) : undefined,
    );
    if (!answer) return { outcome: 'not-started' };
    const { status, durationMs } = answer;
    deps.checkpoint?.('delivered');
    // Committed before anything in Redis says this push is done.
    await track(() =>
      deps.outcomes.record({ push, outcome: 'delivered', attempts: attempt, singerStatus: status }),
    );
    await deps.ledger.settle([push]);
    deps.onAttempt?.({ push, attempt, outcome: 'delivered', singerStatus: status, durationMs });
    // Built only when it will be written (LOG_LEVEL=warn skips it): a few µs per push.
    if (deps.logger.isLevelEnabled('info')) {
      deps.logger.info(operationsRecord(push, request, attempt, new Date()), 'push delivered');
    }
    return { outcome: 'delivered', singerStatus: status };
  } catch (err) {
    const singerStatus = (err as { status?: number }).status;
    const message = (err as Error).message;
    const context = `event ${push.event.eventId}, order ${push.event.orderId}, ${push.scenario}, attempt ${attempt} of ${attempts}`;
    const permanent = err instanceof RenderError || err instanceof SingerPermanentError;
    if (!permanent && attempt < attempts) {
      // Singer unavailable, or MySQL down while looking up the nurse: retried later.
      deps.onAttempt?.({ push, attempt, outcome: 'retry', singerStatus, error: message });
      deps.logger.warn(
        { key: push.idempotencyKey, singerStatus },
        `${context}: ${message}; will retry`,
      );
      return { outcome: 'retry', error: err };
    }
    const why =
      err instanceof RenderError
        ? 'cannot render the push'
        : err instanceof SingerPermanentError
          ? 'Singer refused it'
          : 'out of attempts';
    const reason = `${why}: ${message}`;
    await deadLetterPush(deps, push, {
      reason,
      attempts: attempt,
      singerStatus,
      singerBody: (err as { body?: string }).body,
    });
    deps.onAttempt?.({ push, attempt, outcome: 'dead', singerStatus, error: reason });
    deps.logger.error(
      {
        key: push.idempotencyKey,
        eventId: push.event.eventId,
        orderId: push.event.orderId,
        singerStatus,
      },
      `push dead-lettered: ${reason}`,
    );
    return { outcome: 'dead', reason: `${context}: ${reason}` };
  }
}
