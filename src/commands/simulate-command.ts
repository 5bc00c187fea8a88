/**
 * `push simulate --from S --to S [--reason R] [--order ID]`: which scenarios a status
 * change fires and the pushes exactly as Singer would receive them, sending nothing; for
 * checking a template change (SCENARIOS_FILE, ORDER_DETAIL_URL) before it ships. Uses the
 * worker's own matchEvent and renderer, so what it shows is what production does.
 */
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { assertDatabaseReachable, connectDatabase } from '../db/connect-database.js';
import { nurseLookup } from '../delivery/nurse-lookup.js';
import { PlainError, UsageError } from '../plain-error.js';
import { createPushRenderer, type PushRenderer } from '../render/render-push.js';
import { loadScenarioCatalog, type ScenarioCatalog } from '../scenarios/catalog.js';
import { matchEvent } from '../scenarios/match-event.js';
import type { Nurse, OrderEvent, PushJob } from '../scenarios/types.js';

export interface SimulateOptions {
  from: string;
  to: string;
  reason?: string;
  order?: string;
}

/** The ids of SPEC §5's example, used when no --order is given. */
const PLACEHOLDER = { orderId: '123', patientId: '98', nurseId: '7' } as const;
/** simulate writes no event, so there is no event id; it shows in data.eventId and the key. */
const SIMULATED_EVENT_ID = 'simulated';

interface OrderRow {
  id: string | number;
  patientId: string | number | null;
  nurseId: string | number | null;
  status: string | null;
  statusReason: string | null;
}

export async function runSimulateCommand(config: Config, opts: SimulateOptions): Promise<void> {
  if (opts.order !== undefined && !/^\d+$/.test(opts.order)) {
    throw new UsageError(`--order "${opts.order}" is not an order id (a number)`);
  }
  const { catalog, renderer } = loadScenarios(config);
  const knex = opts.order === undefined ? undefined : connectDatabase(config.databaseUrl, 1);
  try {
    if (knex) await assertDatabaseReachable(knex, config.databaseUrl);
    const order = knex && opts.order ? await readOrder(knex, config, opts.order) : undefined;
    const event: OrderEvent = {
      eventId: SIMULATED_EVENT_ID,
      orderId: order ? String(order.id) : PLACEHOLDER.orderId,
      patientId: order ? idOrNull(order.patientId) : PLACEHOLDER.patientId,
      nurseId: order ? idOrNull(order.nurseId) : PLACEHOLDER.nurseId,
      fromStatus: opts.from,
      toStatus: opts.to,
      fromReason: order && order.status === opts.from ? order.statusReason : null,
      toReason: opts.reason === undefined || opts.reason === '' ? null : opts.reason,
      occurredAt: new Date().toISOString(),
    };

    const out: string[] = [describeChange(event, catalog), describeOrder(event, order, config)];
    out.push(`scenarios: ${catalog.file}`, '');

    const match = matchEvent(event, catalog);
    if (match.unknownStatuses.length > 0) {
      out.push(...describeUnknown(match.unknownStatuses, catalog));
    } else if (match.pushes.length === 0) {
      out.push(...describeNoMatch(event, catalog));
    } else {
      out.push(`${match.pushes.length} scenario(s) fire:`);
      const nurses = knex ? nurseLookup(knex, config.nursesTable) : undefined;
      for (const push of match.pushes) {
        out.push('', ...(await describePush(push, renderer, catalog, nurses)));
      }
    }
    out.push('', 'nothing was sent: simulate only matches and renders.');
    console.log(out.join('\n'));
  } finally {
    await knex?.destroy();
  }
}

function loadScenarios(config: Config): { catalog: ScenarioCatalog; renderer: PushRenderer } {
  try {
    const catalog = loadScenarioCatalog(config.scenariosFile);
    return {
      catalog,
      renderer: createPushRenderer(catalog, { orderDetailUrl: config.orderDetailUrl }),
    };
  } catch (err) {
    // A broken scenario file or URL template is what this command is for catching: say it plainly.
    throw new PlainError((err as Error).message, { cause: err });
  }
}

async function readOrder(knex: Knex, config: Config, orderId: string): Promise<OrderRow> {
  const c = config.orderColumns;
  const row = (await knex(config.ordersTable)
    .select({
      id: c.id,
      patientId: c.patientId,
      nurseId: c.nurseId,
      status: c.status,
      statusReason: c.statusReason,
    })
    .where(c.id, orderId)
    .first()) as OrderRow | undefined;
  if (!row) throw new PlainError(`order ${orderId} is not in \`${config.ordersTable}\``);
  return row;
}

function describeChange(event: OrderEvent, catalog: ScenarioCatalog): string {
  const label = (code: string | null) => {
    const found = catalog.statuses.find((s) => s.code === code);
    return found ? `${code} (${found.label})` : `${code ?? '(none)'}`;
  };
  return `${label(event.fromStatus)} → ${label(event.toStatus)}, reason: ${event.toReason ?? '(none)'}`;
}

function describeOrder(event: OrderEvent, order: OrderRow | undefined, config: Config): string {
  const parties = `patient ${event.patientId ?? '(none)'}, nurse ${event.nurseId ?? '(none)'}`;
  if (order) {
    return `order ${event.orderId} from \`${config.ordersTable}\`: ${parties}; its status now is ${order.status ?? '(none)'}`;
  }
  return `placeholder ids (no --order given): order ${event.orderId}, ${parties}; pass --order <id> to use a real order and nurse`;
}

function describeUnknown(unknown: string[], catalog: ScenarioCatalog): string[] {
  const lines = [
    `no scenario fires: ${unknown.map((code) => `"${code}"`).join(' and ')} ${unknown.length === 1 ? 'is not a status' : 'are not statuses'} in ${catalog.file}.`,
    'In production such an event is recorded as matched by no rule and the pipeline goes on (SPEC §4).',
  ];
  for (const code of unknown) {
    const upper = code.toUpperCase();
    if (upper !== code && catalog.statusCodes.has(upper))
      lines.push(`did you mean ${upper}? (codes are upper case)`);
  }
  return lines;
}

/** Says which scenarios the same from → to would fire with another reason, if any. */
function describeNoMatch(event: OrderEvent, catalog: ScenarioCatalog): string[] {
  const lines = ['no scenario fires for this change: it produces no push.'];
  const allows = (allowed: '*' | readonly string[], value: string | null) =>
    allowed === '*' || (value !== null && allowed.includes(value));
  for (const scenario of catalog.scenarios) {
    for (const condition of scenario.when) {
      const sameStatus = event.fromStatus === event.toStatus;
      if (condition.sameStatus !== undefined && condition.sameStatus !== sameStatus) continue;
      if (!allows(condition.from, event.fromStatus) || !allows(condition.to, event.toStatus))
        continue;
      if (condition.reason === '*') continue;
      lines.push(
        `  #${scenario.number} ${scenario.key} would fire with reason ${condition.reason.join(' or ')}`,
      );
    }
  }
  return lines;
}

async function describePush(
  push: PushJob,
  renderer: PushRenderer,
  catalog: ScenarioCatalog,
  nurses: ReturnType<typeof nurseLookup> | undefined,
): Promise<string[]> {
  const scenario = catalog.scenarios.find((s) => s.key === push.scenario);
  const to = push.recipient;
  const recipient = to.pool === true ? 'the nurse pool' : `${to.role} ${to.id ?? '(none)'}`;
  const head = `#${scenario?.number ?? '?'} ${push.scenario} ${scenario?.operate ?? ''} → ${recipient} via ${push.channel}`;

  let nurse: Nurse | undefined;
  let nurseNote: string | undefined;
  if (renderer.needsNurse(push.scenario) && push.event.nurseId !== null) {
    if (nurses) {
      nurse = await nurses.find(push.event.nurseId);
    } else {
      nurse = { id: push.event.nurseId, name: `<name of nurse ${push.event.nurseId}>` };
      nurseNote = '(placeholder nurse name: pass --order <id> to read it from the nurses table)';
    }
  }
  try {
    const request = renderer.render(push, nurse);
    const body = JSON.stringify(request, null, 2)
      .split('\n')
      .map((line) => `  ${line}`);
    return [head, ...(nurseNote ? [`  ${nurseNote}`] : []), ...body];
  } catch (err) {
    return [
      head,
      `  cannot be rendered, so the worker would dead-letter it: ${(err as Error).message}`,
    ];
  }
}

function idOrNull(value: string | number | null): string | null {
  return value === null ? null : String(value);
}
