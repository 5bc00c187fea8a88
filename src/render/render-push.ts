/**
 * PushJob → SingerRequest (SPEC §5). Every template, and the ORDER_DETAIL_URL template,
 * is compiled once when the renderer is made; rendering is then a lookup and a call.
 */
import Handlebars from 'handlebars';
import {
  TEMPLATE_OPTIONS,
  sampleTemplateContext,
  type Scenario,
  type ScenarioCatalog,
  type TemplateContext,
} from '../scenarios/catalog.js';
import type { Nurse, PushJob, SingerRequest } from '../scenarios/types.js';
import { RenderError } from './render-error.js';

export interface PushRendererOptions {
  /** Handlebars, e.g. `https://m.example.com/orders/{{orderId}}`; same variables as texts. */
  orderDetailUrl: string;
}

export interface PushRenderer {
  /** Throws RenderError (permanent) when the push cannot be built. */
  render(job: PushJob, nurse?: Nurse): SingerRequest;
  /** Whether render() needs the order's nurse (looked up by the caller); false if unknown. */
  needsNurse(scenarioKey: string): boolean;
}

type Template = (context: TemplateContext) => string;

export function createPushRenderer(
  catalog: ScenarioCatalog,
  options: PushRendererOptions,
): PushRenderer {
  // A private environment: helpers or partials registered elsewhere cannot leak in.
  const handlebars = Handlebars.create();
  const compile = (text: string): Template => handlebars.compile(text, TEMPLATE_OPTIONS);

  const scenarios = new Map<string, { scenario: Scenario; content: Template }>(
    catalog.scenarios.map((scenario) => [
      scenario.key,
      { scenario, content: compile(scenario.template) },
    ]),
  );
  const statusLabels = new Map(catalog.statuses.map((status) => [status.code, status.label]));
  const labelOf = (code: string | null): string | null =>
    code === null ? null : (statusLabels.get(code) ?? null);

  // The URL template comes from configuration, which nothing else checks: fail at start,
  // not on the first push with a link.
  const orderDetailUrl = compile(options.orderDetailUrl);
  try {
    orderDetailUrl(sampleTemplateContext(false));
  } catch (err) {
    throw new Error(
      `ORDER_DETAIL_URL "${options.orderDetailUrl}" is not a usable template: ${(err as Error).message}`,
      { cause: err },
    );
  }

  function render(job: PushJob, nurse?: Nurse): SingerRequest {
    const { event } = job;
    const fail = (problem: string, cause?: unknown): RenderError =>
      new RenderError(
        { eventId: event.eventId, orderId: event.orderId, scenario: job.scenario },
        problem,
        cause === undefined ? undefined : { cause },
      );

    const entry = scenarios.get(job.scenario);
    if (entry === undefined) throw fail(`unknown scenario (not in ${catalog.file})`);
    const { scenario, content } = entry;

    const { recipient } = job;
    let to: SingerRequest['to'];
    if (recipient.pool === true) {
      to = { role: 'nurse', pool: true };
    } else if (recipient.id === null) {
      throw fail(`order ${event.orderId} has no ${recipient.role}_id`);
    } else {
      to = { role: recipient.role, id: recipient.id };
    }

    if (scenario.includeNurse) {
      if (event.nurseId === null) {
        throw fail(`order ${event.orderId} has no nurse_id, and this push names the nurse`);
      }
      if (nurse === undefined) {
        throw fail(
          `nurse ${event.nurseId} was not given (not in nurses?); this push names the nurse`,
        );
      }
      if (nurse.id !== event.nurseId) {
        throw fail(`nurse ${nurse.id} was given, but the order's nurse_id is ${event.nurseId}`);
      }
    }

    const context: TemplateContext = {
      orderId: event.orderId,
      eventId: event.eventId,
      patientId: event.patientId,
      nurseId: event.nurseId,
      fromStatus: event.fromStatus,
      toStatus: event.toStatus,
      fromStatusLabel: labelOf(event.fromStatus),
      toStatusLabel: labelOf(event.toStatus),
      fromReason: event.fromReason,
      toReason: event.toReason,
      occurredAt: event.occurredAt,
      ...(nurse === undefined ? {} : { nurse: { id: nurse.id, name: nurse.name } }),
    };

    let text: string;
    try {
      text = content(context);
    } catch (err) {
      throw fail(`cannot render the text: ${(err as Error).message}`, err);
    }
    let url: string | undefined;
    if (scenario.link) {
      try {
        url = orderDetailUrl(context);
      } catch (err) {
        throw fail(`cannot render ORDER_DETAIL_URL: ${(err as Error).message}`, err);
      }
    }

    return {
      idempotencyKey: job.idempotencyKey,
      channel: job.channel,
      to,
      scenario: scenario.key,
      operate: scenario.operate,
      content: text,
      ...(url === undefined ? {} : { url }),
      data: {
        orderId: event.orderId,
        eventId: event.eventId,
        ...(scenario.includeNurse && nurse !== undefined
          ? { nurse: { id: nurse.id, name: nurse.name } }
          : {}),
      },
    };
  }

  return {
    render,
    needsNurse: (scenarioKey) => scenarios.get(scenarioKey)?.scenario.includeNurse ?? false,
  };
}
