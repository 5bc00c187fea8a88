/**
 * `push trace <orderId> [--json]`: answers "did the patient get told?" for one order:
 * each status change push recorded, the pushes it produced, every attempt to deliver
 * them, and where each one stands now (delivered, retrying, dead-lettered, waiting).
 */
import type { Config } from '../config.js';
import { assertDatabaseReachable, connectDatabase } from '../db/connect-database.js';
import { PlainError, UsageError } from '../plain-error.js';
import { loadScenarioCatalog, type ScenarioCatalog } from '../scenarios/catalog.js';
import {
  buildOrderTrace,
  pushKeysOf,
  type OrderTrace,
  type PushState,
  type TracedEvent,
} from '../trace/order-trace.js';
import { readQueueStates } from '../trace/read-queue-states.js';
import {
  readOrderEvents,
  readPushAttempts,
  readPushOutcomes,
} from '../trace/read-order-history.js';

const TOLD: Record<PushState, 'yes' | 'no' | 'not yet' | 'unknown'> = {
  delivered: 'yes',
  'dead-lettered': 'no',
  retrying: 'not yet',
  sending: 'not yet',
  waiting: 'not yet',
  'waiting for the poller': 'not yet',
  unknown: 'unknown',
};

export async function runTraceCommand(
  config: Config,
  orderId: string,
  opts: { json?: boolean },
): Promise<void> {
  if (!/^\d+$/.test(orderId)) throw new UsageError(`"${orderId}" is not an order id (a number)`);
  let catalog: ScenarioCatalog;
  try {
    catalog = loadScenarioCatalog(config.scenariosFile);
  } catch (err) {
    throw new PlainError((err as Error).message, { cause: err });
  }

  const knex = connectDatabase(config.databaseUrl, 2);
  let trace: OrderTrace;
  try {
    await assertDatabaseReachable(knex, config.databaseUrl);
    const [events, attempts] = await Promise.all([
      readOrderEvents(knex, orderId),
      readPushAttempts(knex, orderId),
    ]);
    const outcomes = await readPushOutcomes(
      knex,
      events.map((e) => e.eventId),
    );
    const keys = pushKeysOf(events, attempts, outcomes, catalog);
    const queue =
      keys.length === 0
        ? { states: new Map(), problem: null }
        : await readQueueStates(config, keys);
    trace = buildOrderTrace(
      orderId,
      events,
      attempts,
      outcomes,
      catalog,
      queue.states,
      queue.problem,
    );
  } finally {
    await knex.destroy();
  }

  if (opts.json) {
    console.log(JSON.stringify({ ...trace, told: toldSummary(trace) }, null, 2));
  } else {
    console.log(formatTrace(trace, catalog, config).join('\n'));
  }
}

function toldSummary(trace: OrderTrace) {
  return trace.events.flatMap((event) =>
    event.pushes.map((push) => ({
      recipient: push.recipient,
      scenario: push.scenario,
      eventId: event.eventId,
      told: TOLD[push.state],
      explanation: push.explanation,
    })),
  );
}

export function formatTrace(trace: OrderTrace, catalog: ScenarioCatalog, config: Config): string[] {
  if (trace.events.length === 0) {
    return [
      `order ${trace.orderId} has no events in order_events: its status has not changed since ` +
        `push was installed, or its events were older than OUTBOX_RETENTION_HOURS (${config.outboxRetentionHours} h) and were deleted.`,
    ];
  }
  const pushCount = trace.events.reduce((n, e) => n + e.pushes.length, 0);
  const lines = [`order ${trace.orderId}: ${trace.events.length} event(s), ${pushCount} push(es)`];
  if (trace.queueProblem) lines.push(`(queue states unknown: ${trace.queueProblem})`);
  for (const event of trace.events) lines.push('', ...formatEvent(event, catalog));

  const told = toldSummary(trace);
  lines.push('', 'Who was told?');
  if (told.length === 0) lines.push('  nobody: none of these changes produces a push');
  for (const t of told)
    lines.push(
      `  ${t.recipient}: ${t.told} — ${t.scenario} (event ${t.eventId}): ${t.explanation}`,
    );
  return lines;
}

function formatEvent(event: TracedEvent, catalog: ScenarioCatalog): string[] {
  const lines = [
    `event ${event.eventId}  ${event.fromStatus ?? '(none)'} → ${event.toStatus ?? '(none)'}  reason ${event.toReason ?? '(none)'}`,
    `  recorded ${event.createdAt}, ${event.handedOffAt ? `handed off ${event.handedOffAt}` : 'waiting (not handed off yet)'}`,
  ];
  if (event.unknownStatuses.length > 0) {
    lines.push(`  no rule matched (unknown status ${event.unknownStatuses.join(', ')})`);
  } else if (event.pushes.length === 0) {
    lines.push('  no rule matched: this change produces no push');
  }
  for (const push of event.pushes) {
    const number = catalog.scenarios.find((s) => s.key === push.scenario)?.number;
    const stale = push.derivedNow ? '' : " (not produced by today's scenario file)";
    lines.push(
      `  ${number === undefined ? '' : `#${number} `}${push.scenario} → ${push.recipient} (${push.channel})${stale}: ${push.explanation}`,
    );
    for (const a of push.attempts) {
      const singer = a.singerStatus === null ? 'no answer' : `Singer ${a.singerStatus}`;
      const took = a.durationMs === null ? '' : `  ${a.durationMs} ms`;
      const error = a.error ? `  ${a.error}` : '';
      lines.push(
        `    attempt ${a.attempt}  ${a.outcome.padEnd(9)}  ${singer.padEnd(10)}  ${a.attemptedAt}${took}${error}`,
      );
    }
  }
  return lines;
}
