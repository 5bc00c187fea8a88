/**
 * A push that can never be rendered: unknown scenario, missing recipient, missing nurse,
 * a template naming a variable the context lacks. Retrying cannot help, so the worker
 * dead-letters it at once, keeping this message as the reason.
 */
export interface RenderErrorContext {
  eventId: string;
  orderId: string;
  scenario: string;
}

export class RenderError extends Error {
  override readonly name = 'RenderError';
  readonly eventId: string;
  readonly orderId: string;
  readonly scenario: string;

  constructor(context: RenderErrorContext, problem: string, options?: ErrorOptions) {
    super(
      `event ${context.eventId}, order ${context.orderId}, scenario ${context.scenario}: ${problem}`,
      options,
    );
    this.eventId = context.eventId;
    this.orderId = context.orderId;
    this.scenario = context.scenario;
  }
}
