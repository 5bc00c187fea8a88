/**
 * The shapes that travel through the pipeline: an outbox row becomes an OrderEvent,
 * matching turns it into zero or more PushJobs (carried by BullMQ jobs), the worker
 * renders a PushJob into a SingerRequest.
 */

/** One row of `order_events`, as the poller hands it on. Ids travel as strings. */
export interface OrderEvent {
  eventId: string;
  orderId: string;
  patientId: string | null;
  nurseId: string | null;
  fromStatus: string | null;
  toStatus: string;
  fromReason: string | null;
  toReason: string | null;
  /** ISO-8601 time the change was committed (the trigger's NOW(3)). */
  occurredAt: string;
}

export type RecipientRole = 'patient' | 'nurse';
export type Channel = 'wechat' | 'app';

/**
 * Who a scenario tells: the order's patient, the order's nurse, or (scenario 2) the
 * order's nurse when one is set and otherwise the nurse pool.
 */
export type RecipientRule = 'patient' | 'nurse' | 'nurse-or-pool';

/** Where a push goes. `id` is null when the order has no such party (a bad event). */
export type Recipient =
  { role: RecipientRole; id: string | null; pool?: false } | { role: 'nurse'; pool: true };

/** One push to deliver: the BullMQ job's data. Its key is also the job id. */
export interface PushJob {
  /** Stable for one event and one scenario (so one recipient): `evt-<eventId>-<SCENARIO>`. */
  idempotencyKey: string;
  scenario: string;
  event: OrderEvent;
  recipient: Recipient;
  channel: Channel;
  /**
   * Attempts made before this job existed: a push whose first attempt (in a hand-off job,
   * deliver-hand-off.ts) failed gets a job of its own that counts it.
   */
  priorAttempts?: number;
}

/** The body of `POST {SINGER_URL}/push` (SPEC §5). */
export interface SingerRequest {
  idempotencyKey: string;
  channel: Channel;
  to: { role: RecipientRole; id: string } | { role: 'nurse'; pool: true };
  scenario: string;
  operate: string;
  content: string;
  url?: string;
  data: {
    orderId: string;
    eventId: string;
    nurse?: { id: string; name: string };
  };
}

/** A nurse row, for scenarios whose push names the nurse (scenario 8). */
export interface Nurse {
  id: string;
  name: string;
}
