/**
 * Event → pushes: which scenarios an order event fires, and whom each one tells.
 * Pure (no I/O, no clock), so `push simulate` and the worker agree by construction.
 */
import type { Scenario, ScenarioCatalog, ScenarioCondition } from './catalog.js';
import type { OrderEvent, PushJob, Recipient, RecipientRule } from './types.js';

export interface MatchResult {
  /** One per fired scenario, in scenario number order. */
  pushes: PushJob[];
  /** Status codes of the event that the catalog does not know; then `pushes` is empty. */
  unknownStatuses: string[];
}

export function matchEvent(event: OrderEvent, catalog: ScenarioCatalog): MatchResult {
  // An unknown code is the order service running ahead of our catalog, not a pipeline
  // failure (SPEC §4): report it and match nothing, rather than guess.
  const unknownStatuses = [
    ...new Set([event.fromStatus, event.toStatus].filter((code) => code !== null)),
  ].filter((code) => !catalog.statusCodes.has(code));
  if (unknownStatuses.length > 0) return { pushes: [], unknownStatuses };

  const pushes = catalog.scenarios
    .filter((scenario) => scenario.when.some((condition) => holds(condition, event)))
    .map((scenario) => toPushJob(scenario, event));
  return { pushes, unknownStatuses: [] };
}

function holds(condition: ScenarioCondition, event: OrderEvent): boolean {
  if (condition.sameStatus !== undefined) {
    if ((event.fromStatus === event.toStatus) !== condition.sameStatus) return false;
  }
  return (
    allows(condition.from, event.fromStatus) &&
    allows(condition.to, event.toStatus) &&
    allows(condition.reason, event.toReason)
  );
}

/** `*` also admits null (no previous status, no reason); a list never does. */
function allows(allowed: '*' | readonly string[], value: string | null): boolean {
  return allowed === '*' || (value !== null && allowed.includes(value));
}

function toPushJob(scenario: Scenario, event: OrderEvent): PushJob {
  return {
    // Stable across retries and replays, so Singer drops repeats. BullMQ rejects job ids
    // that are integer strings or contain ':', hence this shape.
    idempotencyKey: `evt-${event.eventId}-${scenario.key}`,
    scenario: scenario.key,
    event,
    recipient: recipientFor(scenario.recipient, event),
    channel: scenario.channel,
  };
}

/**
 * A missing id (order without patient or nurse) still yields a recipient with id null:
 * matching stays total, and the worker dead-letters the push with the reason.
 */
function recipientFor(rule: RecipientRule, event: OrderEvent): Recipient {
  switch (rule) {
    case 'patient':
      return { role: 'patient', id: event.patientId };
    case 'nurse':
      return { role: 'nurse', id: event.nurseId };
    case 'nurse-or-pool':
      // Scenario 2: a paid order with no nurse yet is offered to every nurse.
      return event.nurseId !== null
        ? { role: 'nurse', id: event.nurseId }
        : { role: 'nurse', pool: true };
  }
}
